"""Creating guests and placement advice in the core, on libvirt's real test:/// driver.

Every refusal must leave the host as it was (no guest, no volume); every success must leave
exactly what the confirmation listed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pycdlib
import pytest

from kvmtui.config import Settings
from kvmtui.core import advice, provision
from kvmtui.core.commands import CommandError
from kvmtui.core.errors import HostError
from kvmtui.core.host import Host
from kvmtui.core.model import HostSpec
from kvmtui.core.provision import CloudInit, GuestRequest
from kvmtui.core.sizes import parse_size
from kvmtui.oneshot import run_command
from kvmtui.verbs.create import DiskOption, disk_option
from tests.nodes import NODE_XML, WEB_UUID, node_host, node_hosts, until
from tests.test_oneshot import Terminal

MiB = 2**20
HOSTILE = "evil[bold]'\"<x>&name"


async def names_and_volumes(host: Host) -> tuple[set[str], set[str]]:
    def read(conn):
        return (
            {d.name() for d in conn.listAllDomains(0)},
            set(conn.storagePoolLookupByName("images").listVolumes()),
        )

    return await host.run(read)


def kernel_request(name: str = "tiny", **changes) -> GuestRequest:
    fields = dict(
        name=name,
        host="kvm1",
        vcpus=1,
        memory=128 * MiB,
        disk_size=64 * MiB,
        kernel="/lab/vmlinuz",
        initrd="/lab/initrd.gz",
        network="default",
    )
    fields.update(changes)
    return GuestRequest(**fields)


def test_sizes_are_binary_and_nonsense_is_refused_in_one_line():
    assert parse_size("10G") == 10 * 2**30
    assert parse_size("512MiB") == 512 * MiB
    assert parse_size("4096") == 4096
    for bad in ("10QB", "", "G", "-1G"):
        with pytest.raises(ValueError) as refused:
            parse_size(bad)
        assert "\n" not in str(refused.value)


def test_the_xml_keeps_a_hostile_name_as_text_and_always_has_a_serial_console():
    xml = provision.domain_xml(kernel_request(HOSTILE), "qemu", "images")
    dom = ET.fromstring(xml)
    assert dom.findtext("name") == HOSTILE
    assert dom.find("devices/disk/source").get("volume") == f"{HOSTILE}.qcow2"
    assert dom.findtext("os/kernel") == "/lab/vmlinuz"
    assert dom.findtext("os/cmdline") == "console=ttyS0"
    assert dom.find("devices/serial[@type='pty']") is not None
    assert dom.find("devices/console/target").get("type") == "serial"


def test_uefi_install_iso_boots_the_cdrom_first():
    dom = ET.fromstring(
        provision.domain_xml(
            GuestRequest(
                "inst", "kvm1", 2, 2**30, disk_size=2**30, cdrom="/iso/debian.iso", firmware="uefi"
            ),
            "kvm",
            "images",
        )
    )
    assert dom.find("os").get("firmware") == "efi"
    assert [b.get("dev") for b in dom.findall("os/boot")] == ["cdrom", "hd"]
    assert dom.find("devices/disk[@device='cdrom']/source").get("file") == "/iso/debian.iso"


@pytest.mark.parametrize(
    ("request_", "said"),
    [
        (kernel_request("web"), "kvm1 already has a guest named web"),
        (
            GuestRequest("x", "kvm1", 1, 2**30, disk_size=2**30, cdrom="/srv/missing.iso"),
            "no ISO /srv/missing.iso on kvm1",
        ),
        (kernel_request(memory=2**40), "is more memory than kvm1 has free"),
        (kernel_request(memory=512), "memory must be at least 16 MiB"),
        (kernel_request("a/b"), "may not hold '/'"),
        (GuestRequest("x", "kvm1", 1, 2**30, disk_size=2**30), "no boot source"),
        (kernel_request(pxe=True), "choose one boot source"),
        (kernel_request(network="nowhere"), "kvm1 has no network nowhere"),
        (kernel_request(pool="nopool"), "kvm1 has no active pool nopool"),
        (kernel_request(virt_type="kvm"), "offers no kvm guests"),
    ],
)
async def test_bad_requests_say_why_in_one_line_and_create_nothing(tmp_path, request_, said):
    async with node_host(tmp_path) as host:
        before = await names_and_volumes(host)
        with pytest.raises(HostError) as refused:
            await provision.plan(host, request_)
        assert said in str(refused.value)
        assert "\n" not in str(refused.value)
        assert await names_and_volumes(host) == before


async def test_a_kernel_guest_is_created_with_its_disk_and_started(tmp_path):
    async with node_host(tmp_path) as host:
        plan = await provision.plan(host, kernel_request(HOSTILE))
        assert plan.pool == "images" and plan.virt_type == "test"
        uuid, said = await provision.provision(host, plan, start=True)
        assert said.startswith(f"{HOSTILE} created on kvm1 with volume {HOSTILE}.qcow2")
        names, volumes = await names_and_volumes(host)
        assert HOSTILE in names and f"{HOSTILE}.qcow2" in volumes
        await until(
            lambda: host.guest(uuid) is not None and host.guest(uuid).state.is_active,
            "the new guest running in the table",
        )
        defined = await host.domain_xml(uuid)
        assert ET.fromstring(defined).find("devices/console") is not None


async def test_a_failure_after_the_disk_removes_the_disk_and_defines_nothing(tmp_path):
    """The test driver cannot upload a volume: the cloud-init seed fails after the overlay
    disk was made, so the undo is what is tested."""
    async with node_host(tmp_path) as host:
        before = await names_and_volumes(host)
        request = GuestRequest(
            "cloudy",
            "kvm1",
            1,
            256 * MiB,
            disk_size=2**30,
            import_path="/var/lib/images/web.qcow2",
            cloud_init=CloudInit("ops", "ssh-ed25519 AAAA ops@x", "cloudy"),
        )
        plan = await provision.plan(host, request)
        assert plan.backing == "/var/lib/images/web.qcow2"
        with pytest.raises(HostError) as failed:
            await provision.provision(host, plan, start=False)
        assert "vol-upload cloudy-seed.iso" in str(failed.value)
        assert await names_and_volumes(host) == before


def test_the_seed_is_a_nocloud_iso_whose_fields_hold_any_text():
    key = 'ssh-ed25519 AAAA "x"\nusers: [root]'
    image = provision.seed_iso(CloudInit("ops", key, "h1"), "i-1")
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    assert iso.pvd.volume_identifier.strip() == b"cidata"
    read = {}
    for name in ("user-data", "meta-data"):
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
        read[name] = out.getvalue().decode()
    iso.close()
    assert read["user-data"].startswith("#cloud-config\n")
    config = json.loads(read["user-data"].split("\n", 1)[1])  # JSON is YAML: one reader
    assert config["users"][0]["ssh_authorized_keys"] == [key]
    assert json.loads(read["meta-data"]) == {"instance-id": "i-1", "local-hostname": "h1"}


def test_ssh_key_files_must_hold_one_public_key(tmp_path: Path):
    public = tmp_path / "id.pub"
    public.write_text("ssh-ed25519 AAAAC3 ops@jump\n")
    assert provision.read_ssh_key(public) == "ssh-ed25519 AAAAC3 ops@jump"
    private = tmp_path / "id"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n")
    with pytest.raises(ValueError, match="private key"):
        provision.read_ssh_key(private)
    with pytest.raises(ValueError, match="cannot read"):
        provision.read_ssh_key(tmp_path / "absent.pub")


def test_ranking_puts_hosts_that_fit_first_then_less_overcommit_then_more_memory():
    def fit(name, free, cpus, running, cpu="compatible"):
        return advice.HostFit(advice.HostRoom(name, free, cpus, running), 2**30, 2, cpu)

    ranked = advice.rank(
        [
            fit("full", 2**29, 64, 0),
            fit("busy", 8 * 2**30, 4, 10),
            fit("calm", 4 * 2**30, 8, 2),
            fit("roomy", 16 * 2**30, 8, 2),
            fit("odd", 32 * 2**30, 64, 0, "incompatible"),
        ]
    )
    assert [f.host for f in ranked] == ["roomy", "calm", "busy", "odd", "full"]
    assert ranked[-2].problem == "CPU incompatible"
    assert ranked[-1].problem == "only 512.0 MiB free"
    assert ranked[0].summary() == "16.0 GiB free, vCPUs 4/8 (0.5x), CPU compatible"


async def test_advice_and_evacuation_plan_on_two_hosts(tmp_path):
    async with node_hosts(tmp_path, "kvm1", "kvm2") as hosts:
        fleet_hosts = {h.name: h for h in hosts}
        fleet = _FleetOf(hosts)
        web = fleet_hosts["kvm1"].guest(WEB_UUID)
        ranked = await advice.advise_for(fleet, web)
        assert [f.host for f in ranked] == ["kvm2"]
        assert ranked[0].cpu == "compatible"  # web names no CPU model
        plan = await advice.plan_evacuation(fleet, "kvm1")
        # Both running guests, the larger first; kvm2 has room for both.
        assert [(m.guest.name, m.dest) for m in plan.moves] == [("web", "kvm2"), ("bare", "kvm2")]
        assert plan.describe().startswith("web -> kvm2  (")


class _FleetOf:
    """The hosts `node_hosts` connected, as the fleet the advice reads."""

    def __init__(self, hosts: list[Host]) -> None:
        self.hosts = hosts

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)


def test_a_guests_cpu_is_judged_under_its_own_hypervisor():
    """A TCG guest's qemu64 model is checked against QEMU's emulation (type qemu): under
    KVM the lab's hosts call it incompatible, and an evacuation would move nothing."""
    wanted = advice.guest_cpu(
        "<domain type='qemu'><os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os>"
        "<cpu mode='custom'><model>qemu64</model></cpu>"
        "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>"
    )
    assert wanted is not None
    assert (wanted.virt_type, wanted.arch, wanted.machine, wanted.emulator) == (
        "qemu",
        "x86_64",
        "pc-i440fx-7.2",
        "/usr/bin/qemu-system-x86_64",
    )
    assert "<model>qemu64</model>" in wanted.xml
    assert advice.guest_cpu("<domain type='kvm'><cpu mode='host-model'/></domain>") is None


async def test_the_one_shot_create_shows_the_xml_asks_and_creates(tmp_path):
    node = tmp_path / "kvm1.xml"
    node.write_text(NODE_XML)
    words = ("create", "--memory", "256M", "--disk", "1G", "--kernel", "/k", "--", HOSTILE)

    async def run(answer: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        settings = Settings(
            hosts=(HostSpec("kvm1", f"test://{node}"),),
            readonly=False,
            refresh=60.0,
            theme=None,
            demo=False,
            command=words,
        )
        status = await run_command(
            settings, stdin=Terminal(answer, tty=True), stdout=out, stderr=err
        )
        return status, out.getvalue(), err.getvalue()

    status, out, err = await run("n\n")
    assert status == 1 and out == ""
    assert "<name>evil[bold]'\"&lt;x&gt;&amp;name</name>" in err  # the XML, escaped
    status, out, err = await run("y\n")
    assert status == 0, err
    assert out.startswith(f"{HOSTILE} created on kvm1 with volume {HOSTILE}.qcow2")


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("10G", DiskOption(10 * 2**30)),
        ("size=10", DiskOption(10 * 2**30)),  # virt-install's: GiB
        ("size=0.5,pool=images,format=raw,bus=sata", DiskOption(2**29, "images", "raw", "sata")),
    ],
)
def test_disk_takes_a_size_or_virt_installs_grammar(text, wanted):
    assert disk_option(text) == wanted


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("pool=images", "--disk needs size=N, in GiB as virt-install takes it"),
        ("size=ten", "--disk size=ten: give a number of GiB, e.g. size=10"),
        ("size=-1", "--disk size=-1: give a number of GiB"),
        ("size=1,colour=red", '--disk: "colour=red" is not one of size=GiB, pool=POOL'),
        ("size=1,size=2", "--disk: size= given twice"),
        ("10QB", "--disk: unknown size unit"),
    ],
)
def test_a_bad_disk_says_what_is_wrong(text, said):
    with pytest.raises(CommandError) as refused:
        disk_option(text)
    assert str(refused.value).startswith(f"create: {said}")


def test_a_disk_on_the_sata_bus_and_the_iso_get_their_own_targets():
    request = GuestRequest(
        "inst",
        "kvm1",
        1,
        2**30,
        disk_size=2**30,
        disk_format="raw",
        disk_bus="sata",
        cdrom="/iso/debian.iso",
    )
    assert request.problem() == ""
    dom = ET.fromstring(provision.domain_xml(request, "qemu", "images"))
    disks = [
        (d.get("device"), d.find("target").get("dev"), d.find("target").get("bus"))
        for d in dom.findall("devices/disk")
    ]
    assert disks == [("disk", "sda", "sata"), ("cdrom", "sdb", "sata")]
    assert dom.find("devices/disk/driver").get("type") == "raw"
    assert dom.find("devices/disk/source").get("volume") == "inst.img"
    assert (
        GuestRequest("x", "kvm1", 1, 2**30, disk_size=1, disk_bus="floppy", pxe=True).problem()
        == "disk bus must be virtio, sata, scsi, usb, ide"
    )


async def test_the_one_shot_create_takes_virt_installs_disk(tmp_path):
    """`--disk size=1,pool=images,bus=sata`: 1 GiB in pool images on the SATA bus, as in
    the XML the confirmation shows (the test driver keeps nothing between connections)."""
    node = tmp_path / "kvm1.xml"
    node.write_text(NODE_XML)
    words = (
        "create",
        "vi",
        "--memory",
        "256M",
        "--disk",
        "size=1,pool=images,bus=sata",
        "--kernel",
        "/k",
    )
    out, err = io.StringIO(), io.StringIO()
    settings = Settings(
        hosts=(HostSpec("kvm1", f"test://{node}"),),
        readonly=False,
        refresh=60.0,
        theme=None,
        demo=False,
        command=words,
    )
    status = await run_command(settings, stdin=Terminal("y\n", tty=True), stdout=out, stderr=err)
    assert status == 0, err.getvalue()
    assert out.getvalue().startswith("vi created on kvm1 with volume vi.qcow2 in pool images")
    xml = err.getvalue()[err.getvalue().index("<domain") : err.getvalue().index("</domain>") + 9]
    disk = ET.fromstring(xml).find("devices/disk")
    assert disk.find("target").attrib == {"dev": "sda", "bus": "sata"}
    assert disk.find("source").attrib == {"pool": "images", "volume": "vi.qcow2"}


async def test_create_with_tags_writes_them_and_keeps_its_anti_group_apart(tmp_path):
    """`--tags anti=web,tier=web`: the host running the other anti=web guest is passed
    over, and the new guest's XML carries the tags."""
    tagged = NODE_XML.replace(
        "<name>web</name>",
        "<name>web</name><metadata><kvmtui:tags xmlns:kvmtui='https://kvmtui.dev/xmlns/tags/1'>"
        "<kvmtui:tag>anti=web</kvmtui:tag></kvmtui:tags></metadata>",
    )
    hosts = []
    for name, xml in (("kvm1", tagged), ("kvm2", NODE_XML)):
        (tmp_path / f"{name}.xml").write_text(xml)
        hosts.append(HostSpec(name, f"test://{tmp_path / name}.xml"))
    words = ("create", "web2", "--memory", "256M", "--kernel", "/k")

    async def asked(*more: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        settings = Settings(tuple(hosts), False, 60.0, None, False, command=words + more)
        answer = Terminal("n\n", tty=True)
        assert await run_command(settings, stdin=answer, stdout=out, stderr=err) == 1
        return err.getvalue()

    # The two hosts alike, the first by name; with the tag, the other.
    assert "Create web2 on kvm1 (ranked first" in await asked()
    said = await asked("--tags", "anti=web,tier=web")
    assert "Create web2 on kvm2 (ranked first by the placement advice)?" in said
    assert (
        "<kvmtui:tag>anti=web</kvmtui:tag>" in said and "<kvmtui:tag>tier=web</kvmtui:tag>" in said
    )
