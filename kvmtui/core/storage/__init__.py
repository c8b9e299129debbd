"""Storage pools and volumes across the fleet: what `:pools` and `:vols` show, and the
`pool-*` / `vol-*` changes, in virsh's words. One module a job:

- `readings`: one call per host lists every pool, every volume of the active ones and every
  guest's disks, so each volume can say which guest uses it or which volume it backs.
- `service`: `StorageService`, on the resource-service base: the last reading of each host,
  read while a view shows storage, on libvirt's pool events and after a change made here;
  and the uploads under way.
- `lookup`: the pool or volume a command names, and the guests that use a volume.
- `pools`, `volumes`, `upload`: the changes, each one blocking libvirt sequence on the
  host's threads that undoes its own half-done work on failure, so a bad input or a refused
  call leaves nothing behind.
"""
