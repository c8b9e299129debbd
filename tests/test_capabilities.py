"""Host capabilities: parsed from libvirt's XML (the shapes a QEMU host and the test
driver give), and the acceleration findings `:validate` lists from them."""

from __future__ import annotations

from kvmtui.core.capabilities import Level, checks, facts, parse, read_caps, version_text
from kvmtui.core.model import GuestSnapshot, GuestState
from tests.nodes import node_host


def _caps_xml(cpu_features: str, domains: str, iommu: str = "no", huge: str = "0") -> str:
    """A QEMU host's capabilities in the shape libvirt 9 writes them (trimmed)."""
    return f"""<capabilities><host>
  <cpu><arch>x86_64</arch><model>EPYC</model><vendor>AMD</vendor>{cpu_features}
    <pages unit='KiB' size='4'/><pages unit='KiB' size='2048'/></cpu>
  <iommu support='{iommu}'/>
  <topology><cells num='2'>
    <cell id='0'><memory unit='KiB'>8388608</memory>
      <pages unit='KiB' size='4'>2097152</pages><pages unit='KiB' size='2048'>{huge}</pages>
      <cpus num='4'/></cell>
    <cell id='1'><memory unit='KiB'>8388608</memory>
      <pages unit='KiB' size='4'>2097152</pages><pages unit='KiB' size='2048'>0</pages>
      <cpus num='4'/></cell>
  </cells></topology></host>
  <guest><os_type>hvm</os_type><arch name='x86_64'>{domains}</arch></guest>
  <guest><os_type>hvm</os_type><arch name='i686'><domain type='kvm'/></arch></guest>
</capabilities>"""


DOMCAPS = """<domainCapabilities><path>/usr/bin/qemu-system-x86_64</path>
  <domain>kvm</domain><machine>pc-q35-7.2</machine><arch>x86_64</arch>
  <cpu><mode name='host-model' supported='yes'><model>EPYC</model>
    <feature policy='require' name='svm'/></mode></cpu>
  <devices><hostdev supported='yes'/></devices></domainCapabilities>"""

KVM = "<domain type='qemu'/><domain type='kvm'/>"


def _guest(name: str, virt_type: str, host: str = "kvm1") -> GuestSnapshot:
    return GuestSnapshot(host, name, f"uuid-{name}", GuestState.RUNNING, virt_type=virt_type)


def test_a_kvm_host_with_nesting_numa_and_hugepages():
    caps = parse(
        "kvm1",
        _caps_xml("<feature name='svm'/>", KVM, iommu="yes", huge="512"),
        DOMCAPS,
        free=[4 << 30, 1 << 30],
        free_pages={0: {2048: 100}},
    )
    assert caps.kvm and caps.virt_flag == "svm" and caps.nested_flag
    assert [(c.id, c.cpus, c.free_kib) for c in caps.cells] == [(0, 4, 4 << 20), (1, 4, 1 << 20)]
    shown = dict(facts(caps))
    assert shown["KVM"] == "yes: guests can run accelerated"
    assert shown["Nested"] == "possible: the host-model CPU guests get carries svm"
    assert shown["NUMA cell 0"] == "4 CPUs, 8.0 GiB, 4.0 GiB free"
    assert shown["Hugepages"] == "cell 0: 512 x 2.0 MiB (100 free)"
    assert shown["Emulator"] == "/usr/bin/qemu-system-x86_64 (pc-q35-7.2)"
    found = checks(caps, [_guest("fast", "kvm")])
    assert {c.level for c in found} == {Level.PASS}


def test_tcg_guests_on_a_kvm_host_are_named():
    caps = parse("kvm1", _caps_xml("<feature name='svm'/>", KVM), DOMCAPS)
    found = {
        c.what: c
        for c in checks(
            caps,
            [
                _guest("slow", "qemu"),
                _guest("fast", "kvm"),
                _guest("elsewhere", "qemu", host="kvm2"),
            ],
        )
    }
    tcg = found["TCG guests"]
    assert tcg.level is Level.WARN
    assert tcg.detail == "1 defined with type qemu (emulated) though KVM is usable: slow"
    assert found["IOMMU"].level is Level.WARN


def test_a_host_without_kvm_fails_and_says_where_to_look():
    without_flag = checks(parse("old", _caps_xml("", "<domain type='qemu'/>")))
    kvm = next(c for c in without_flag if c.what == "KVM")
    assert kvm.level is Level.FAIL
    assert "offered: qemu" in kvm.detail and "enable VT-x/AMD-V in the firmware" in kvm.detail
    with_flag = checks(parse("nomod", _caps_xml("<feature name='vmx'/>", "<domain type='qemu'/>")))
    kvm = next(c for c in with_flag if c.what == "KVM")
    assert kvm.level is Level.FAIL and "/dev/kvm is missing or not accessible" in kvm.detail


async def test_the_test_driver_reads_as_a_host_without_kvm(tmp_path):
    async with node_host(tmp_path) as host:
        caps = await read_caps(host)
    assert not caps.error and not caps.kvm
    assert caps.domain_types == ("test",) and caps.libvirt_version
    assert caps.nested_flag is None  # the test driver has no domain capabilities
    assert (
        dict(facts(caps))["KVM"] == "NO: no kvm domain type offered, guests cannot run accelerated"
    )


async def test_an_unreachable_host_is_a_finding_not_an_exception(tmp_path):
    async with node_host(tmp_path) as host:
        await host.close()
        caps = await read_caps(host)
    assert caps.error
    assert [(c.what, c.level) for c in checks(caps)] == [("connection", Level.FAIL)]


def test_versions_read_as_virsh_shows_them() -> None:
    """One reading of libvirt's version numbers, for the hosts view and `:validate` alike."""
    assert version_text(9_000_000) == "9.0.0"
    assert version_text(10_010_002) == "10.10.2"
