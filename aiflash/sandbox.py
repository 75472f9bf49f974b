"""Containment of participant code, without privileges: what the ingestion worker applies to itself
just before importing ``model.py``, and how the ingestion program ends every process of a run.

- **Filesystem writes** (Linux Landlock, through the ``landlock`` package): only beneath the team's
  own folder and the run's private scratch (``scratch_environment``: ``TMPDIR``, ``HOME`` and the
  libraries' cache variables point into it; the ingestion program removes it at the end of the
  run), not the rest of ``/tmp``, where phase data may lie on a participant's or an organiser's
  machine; reading is left as it is (the ground truth is never mounted in a prediction job). Not
  the output folder: results reach it through the ingestion program in both APIs, so a model that
  could write there could only replace results that already passed the guard (or write
  Codabench's reserved ``metadata``). Device files stay writable (CUDA opens ``/dev/nvidia*``
  read-write), ``/dev/shm`` too (PyTorch's shared memory).
- **Sockets and other processes** (seccomp, through the ``pyseccomp`` binding of libseccomp):
  ``socket()`` of any address family but those the model's libraries need (``socket_families``)
  fails with EPERM, so UDP, DNS, raw and packet sockets are an ``OSError`` inside the model, as is
  ``socketpair()`` of anything but AF_UNIX; ``ptrace``, ``process_vm_readv/writev`` and
  ``io_uring_setup`` (io_uring creates sockets without ``socket()``) are denied too. The filter
  covers every thread of the process and every process it starts. ``--allow-network`` lifts the
  socket rules only.
- **Network, second layer**: TCP connect and bind denied when the kernel's Landlock ABI is >= 4
  (6.7+). The ``landlock`` package handles filesystem rules only, so this second ruleset is made
  with the same three system calls through ctypes. From ABI 6 the same ruleset also stops the
  model from signalling processes outside its sandbox (the ingestion program) and from
  connecting to abstract unix sockets created outside it.
- **rlimits**: RLIMIT_FSIZE (a file cannot grow without bound; Python ignores SIGXFSZ, so the
  write fails with an OSError inside the model), RLIMIT_NPROC (a fork bomb stops at a margin
  above this user's current task count; not enforced for root). Memory: RLIMIT_AS breaks CUDA
  (it reserves tens of GiB of address space), so on GPU memory is left to the container's limit;
  on CPU the address space is capped at twice the machine's RAM, so a runaway allocation fails as
  a MemoryError in the model instead of swapping the machine to death.
- **Processes**: the ingestion program becomes a child subreaper, so a daemon that double-forks and
  calls ``setsid`` is re-parented to it instead of to init, and ``end_descendants`` finds and kills
  it at the end of the run.

Nothing here fails where a protection is missing (an older kernel, a seccomp profile that hides
Landlock, no libseccomp): ``confine`` applies what the running system offers and reports exactly
that.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import socket
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_MAX_FILE_BYTES = 8 << 30
DEFAULT_PROCESS_MARGIN = 512  # tasks (threads count) above this user's count when confined
_PR_SET_CHILD_SUBREAPER = 36
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_RULESET_BYTES = {4: 16, 5: 16}  # sizeof(struct landlock_ruleset_attr) by ABI; 24 from ABI 6
# Denied to the model whatever the policy: attaching to a process, and io_uring, whose requests
# (IORING_OP_SOCKET, ...) never pass through the filtered system calls.
_ATTACH_CALLS = ("ptrace", "process_vm_readv", "process_vm_writev")
_UNFILTERED_CALLS = ("io_uring_setup",)
ANY_FAMILY = "any"


@dataclass(frozen=True)
class SandboxPolicy:
    """What to confine. ``writable``: the only folders participant code may write beneath."""

    writable: tuple[Path, ...]
    network: bool = False  # True: leave sockets and TCP open (organisers who allow it)
    gpu: bool = False  # True: no RLIMIT_AS (it breaks CUDA)
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    process_margin: int = DEFAULT_PROCESS_MARGIN


@dataclass(frozen=True)
class SandboxReport:
    """Which protections are active in the confined process (``ingestion.json`` "sandbox")."""

    confined: bool  # False: --no-sandbox, nothing applied
    landlock_abi: int = 0  # 0: Landlock unavailable
    filesystem: bool = False  # writes confined to ``writable``
    network: bool = False  # TCP connect/bind denied (Landlock)
    signals: bool = False  # signals to processes outside the sandbox denied
    abstract_unix: bool = False  # connecting to abstract unix sockets made outside it denied
    seccomp: bool = False  # the system call filter is loaded
    sockets: str = ANY_FAMILY  # the address families socket() may create, e.g. "only AF_UNIX"
    attach: bool = False  # ptrace, process_vm_readv/writev and io_uring denied
    writable: tuple[str, ...] = ()
    max_file_bytes: int | None = None
    max_processes: int | None = None
    memory: str = "not bounded"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["writable"], data["notes"] = list(self.writable), list(self.notes)
        return data

    def summary(self) -> str:
        """One line for the log."""
        if not self.confined:
            return "off (--no-sandbox): the model ran unconfined"
        parts = [
            (f"writes only in {', '.join(self.writable)}" if self.filesystem else "writes NOT confined"),
            self._network_summary(),
        ]
        if self.attach:
            parts.append("no ptrace, process_vm or io_uring")
        if self.signals:
            parts.append("no signals outside")
        if self.abstract_unix:
            parts.append("no abstract unix sockets outside")
        if self.max_file_bytes:
            parts.append(f"files <= {self.max_file_bytes / 2**30:g} GiB")
        if self.max_processes:
            parts.append(f"<= {self.max_processes} tasks")
        parts.append(f"memory: {self.memory}")
        abi = f"Landlock ABI {self.landlock_abi}" if self.landlock_abi else "no Landlock"
        layers = f"{abi}, {'seccomp' if self.seccomp else 'no seccomp'}"
        return f"{'; '.join(parts)} ({layers})" + "".join(f"; {note}" for note in self.notes)

    def _network_summary(self) -> str:
        tcp = "TCP connect/bind denied"
        if self.sockets != ANY_FAMILY:
            return f"sockets: {self.sockets} (no UDP, DNS or raw)" + (f", {tcp}" if self.network else "")
        return f"{tcp}, but UDP, DNS and raw sockets open" if self.network else "network open"


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 where Landlock is unavailable."""
    try:
        import landlock

        return int(landlock.landlock_abi_version())
    except (ImportError, OSError, AttributeError, ValueError):
        return 0


def default_writable(team_dir: Path, *extra: Path) -> tuple[Path, ...]:
    """The team's folder and ``extra`` (the run's scratch), those that exist. Not ``/tmp``: the
    model's temporary files go to its scratch (``scratch_environment``)."""
    found: list[Path] = []
    for path in (team_dir, *extra):
        resolved = Path(path).resolve()
        if resolved.is_dir() and resolved not in found:
            found.append(resolved)
    return tuple(found)


def scratch_environment(scratch: Path) -> dict[str, str]:
    """The variables that make a confined model's temporary files and caches land in the run's
    private ``scratch`` (the only place besides its own folder where it may write): ``tempfile``
    (and multiprocessing's sockets, torch.compile's cache), the home folder and every library cache
    that would default to it. They override the caller's (the image's ``TORCH_HOME=/tmp/...``
    would point at a folder the model cannot write). Weights a team ships are read from its own
    folder by path, as on Codabench: nothing is taken from the caller's caches. ``PYTHONUSERBASE``
    keeps the caller's user site-packages importable under the new ``HOME``. Not
    ``PYTHONPYCACHEPREFIX``: it would make every import ignore the installed packages'
    ``__pycache__`` (the worker writes no bytecode anyway). Creates ``scratch/home`` and
    ``scratch/tmp`` (``tempfile`` ignores a ``TMPDIR`` that does not exist)."""
    import site

    home, tmp = scratch / "home", scratch / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    cache = home / ".cache"
    return {
        "TMPDIR": str(tmp), "HOME": str(home), "XDG_CACHE_HOME": str(cache),
        "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local" / "share"),
        "TORCH_HOME": str(cache / "torch"), "HF_HOME": str(cache / "huggingface"),
        "MPLCONFIGDIR": str(cache / "matplotlib"), "NUMBA_CACHE_DIR": str(cache / "numba"),
        "TRITON_CACHE_DIR": str(cache / "triton"), "CUDA_CACHE_PATH": str(cache / "nv"),
        "PYTHONUSERBASE": os.environ.get("PYTHONUSERBASE") or site.getuserbase(),
    }


def _write_access(abi: int):
    """The write-like Landlock rights this ABI knows (reading and executing stay unhandled)."""
    from landlock import FSAccess

    rights = (FSAccess.WRITE_FILE | FSAccess.REMOVE_DIR | FSAccess.REMOVE_FILE | FSAccess.MAKE_CHAR
              | FSAccess.MAKE_DIR | FSAccess.MAKE_REG | FSAccess.MAKE_SOCK | FSAccess.MAKE_FIFO
              | FSAccess.MAKE_BLOCK | FSAccess.MAKE_SYM)
    if abi >= 2:
        rights |= FSAccess.REFER
    if abi >= 3:
        rights |= FSAccess.TRUNCATE
    return rights


def _confine_filesystem(writable: Iterable[Path], abi: int) -> None:
    from landlock import FSAccess, Ruleset

    rights = _write_access(abi)
    ruleset = Ruleset(restrict_rules=rights)
    ruleset.allow(*writable, rules=rights)
    if Path("/dev").is_dir():  # device files: /dev/null, CUDA's /dev/nvidia* (opened read-write)
        ruleset.allow("/dev", rules=FSAccess.WRITE_FILE | (FSAccess.TRUNCATE if abi >= 3 else 0))
    if Path("/dev/shm").is_dir():
        ruleset.allow("/dev/shm", rules=rights)
    ruleset.apply()


def _restrict_network_and_signals(abi: int, network: bool) -> tuple[bool, bool]:
    """A second Landlock layer: TCP (ABI >= 4), and signal and abstract unix socket scoping (ABI >=
    6). (TCP denied, scoped)."""
    deny_tcp = not network and abi >= 4
    scope = abi >= 6
    if not (deny_tcp or scope):
        return False, False

    class Attr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    from landlock.plumbing import SYSCALL_CREATE_RULESET, SYSCALL_RESTRICT_SELF, get_libc

    libc = get_libc()
    attr = Attr(0, (_NET_BIND_TCP | _NET_CONNECT_TCP) if deny_tcp else 0,
                (_SCOPE_SIGNAL | _SCOPE_ABSTRACT_UNIX) if scope else 0)
    size = _RULESET_BYTES.get(abi, ctypes.sizeof(Attr))
    fd = libc.syscall(ctypes.c_long(SYSCALL_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
                      ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset (network) failed")
    try:
        if libc.syscall(ctypes.c_long(SYSCALL_RESTRICT_SELF), ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self (network) failed")
    finally:
        os.close(fd)
    return deny_tcp, scope


def socket_families(gpu: bool) -> tuple[int, ...]:
    """The address families the model's own libraries create sockets of. Traced (strace) on CPU:
    importing and running torch (intra-op threads, DataLoader workers forked and spawned,
    torch.multiprocessing, torch.compile), numpy, OpenCV, PIL, scikit-image, multiprocessing pools
    and concurrent.futures use AF_UNIX only (multiprocessing's listeners, glibc's nscd lookups).
    AF_NETLINK (glibc's getifaddrs and getaddrinfo(AI_ADDRCONFIG)) talks to the kernel, never to
    another machine: allowed on GPU, whose driver libraries could not be traced here."""
    return (socket.AF_UNIX, socket.AF_NETLINK) if gpu else (socket.AF_UNIX,)


def family_rules(allowed: Iterable[int]) -> list[tuple[str, int]]:
    """The comparisons on a socket call's first argument (the family) that together deny every
    family but ``allowed``: ("EQ", n) for each value between allowed ones, ("GT", n) above the
    last. One comparison each, since libseccomp takes one per argument in a rule."""
    allowed = sorted(set(allowed))
    rules = [("EQ", value) for value in range(allowed[-1]) if value not in allowed]
    return rules + [("GT", allowed[-1])]


def family_names(families: Iterable[int]) -> str:
    return ", ".join(socket.AddressFamily(family).name for family in families)


def _confine_system_calls(families: tuple[int, ...] | None) -> None:
    """Load the seccomp filter (``families``: those socket() may create; None: any). Raises
    ImportError or RuntimeError (no binding, no libseccomp) or OSError (the kernel refused)."""
    import errno

    import pyseccomp as seccomp

    deny = seccomp.ERRNO(errno.EPERM)
    syscalls = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    syscalls.set_attr(seccomp.Attr.CTL_TSYNC, 1)  # every thread, those torch started before too
    syscalls.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)  # 32-bit calls (int 0x80)
    for name in _ATTACH_CALLS + _UNFILTERED_CALLS:
        syscalls.add_rule(deny, name)
    if families is not None:
        for name, allowed in (("socket", families), ("socketpair", (socket.AF_UNIX,))):
            for comparison, value in family_rules(allowed):
                syscalls.add_rule(deny, name, seccomp.Arg(0, getattr(seccomp, comparison), value))
    syscalls.load()


def _seccomp_missing(exc: Exception) -> str:
    if isinstance(exc, ImportError):
        why = "the pyseccomp package is not installed"
    elif isinstance(exc, RuntimeError):
        why = f"libseccomp is missing ({exc}; install libseccomp2)"
    else:
        why = f"the kernel refused the filter ({exc})"
    return f"no seccomp filter: {why}; UDP, DNS and raw sockets, ptrace and io_uring are open to the model"


def _user_tasks() -> int:
    """Tasks (processes and threads) of this real user now: what RLIMIT_NPROC counts."""
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid:
                count += len(os.listdir(f"/proc/{entry.name}/task"))
        except OSError:
            continue
    return count


def _lower(limit: int, value: int) -> int:
    soft, hard = resource.getrlimit(limit)
    new = value if hard == resource.RLIM_INFINITY else min(value, hard)
    if soft == resource.RLIM_INFINITY or new < soft:
        resource.setrlimit(limit, (new, hard))
        return new
    return soft


def _total_ram() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def confine(policy: SandboxPolicy) -> SandboxReport:
    """Confine the calling process (and every process it starts later) as ``policy`` says, as far
    as the running kernel allows; never raises for a missing feature: the report says what holds.
    Call it in the main thread before other threads exist (Landlock applies to the calling thread
    and its future children)."""
    notes: list[str] = []
    abi = landlock_abi()
    filesystem = network = signals = seccomp = False
    if abi:
        try:
            _confine_filesystem(policy.writable, abi)
            filesystem = True
        except OSError as exc:
            notes.append(f"filesystem confinement failed: {exc}")
        try:
            network, signals = _restrict_network_and_signals(abi, policy.network)
        except OSError as exc:
            notes.append(f"network confinement failed: {exc}")
        if not policy.network and abi < 4:
            notes.append(f"this kernel's Landlock (ABI {abi}) cannot restrict TCP: network left open")
    else:
        import importlib.util

        where = ("the landlock package is not installed" if importlib.util.find_spec("landlock") is None
                 else "Landlock is not available on this kernel")
        notes.append(f"{where}: writes are not confined, nor TCP by Landlock")
    families = None if policy.network else socket_families(policy.gpu)
    try:
        _confine_system_calls(families)
        seccomp = True
    except (ImportError, RuntimeError, OSError) as exc:
        notes.append(_seccomp_missing(exc))
    if policy.network:
        notes.append("network allowed by the organisers (--allow-network)")
    max_file = _lower(resource.RLIMIT_FSIZE, policy.max_file_bytes)
    max_tasks = None
    if os.getuid() == 0:
        notes.append("running as root: the process limit is not enforced")
    else:
        max_tasks = _lower(resource.RLIMIT_NPROC, _user_tasks() + policy.process_margin)
    if policy.gpu:
        memory = "not bounded here on GPU (RLIMIT_AS breaks CUDA): the container's memory limit applies"
    else:
        cap = _lower(resource.RLIMIT_AS, 2 * _total_ram())
        memory = f"address space <= {cap / 2**30:.0f} GiB (RLIMIT_AS, twice the RAM)"
    return SandboxReport(
        confined=True, landlock_abi=abi, filesystem=filesystem, network=network, signals=signals,
        abstract_unix=signals, seccomp=seccomp, attach=seccomp,
        sockets=f"only {family_names(families)}" if seccomp and families else ANY_FAMILY,
        writable=tuple(str(p) for p in policy.writable) if filesystem else (),
        max_file_bytes=int(max_file), max_processes=max_tasks, memory=memory, notes=tuple(notes),
    )


def unconfined() -> SandboxReport:
    """The report of a run with containment switched off (--no-sandbox)."""
    return SandboxReport(confined=False, landlock_abi=landlock_abi(),
                         notes=("containment switched off by the organisers (--no-sandbox)",))


# -- processes ------------------------------------------------------------------------------------
def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux >= 3.4); False elsewhere."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state letter) of every process, from /proc."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # the name may hold spaces and parentheses
        table[int(entry.name)] = (int(fields[1]), fields[0])
    return table


def descendants(root: int, spare: Iterable[int] = ()) -> list[int]:
    """Every living process below ``root`` (zombies left out), skipping the subtrees of ``spare``."""
    table = _process_table()
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (parent, _) in table.items():
        children[parent].append(pid)
    skip, found, stack = set(spare), [], list(children[root])
    while stack:
        pid = stack.pop()
        if pid in skip:
            continue
        if table.get(pid, (0, "Z"))[1] not in ("Z", "X"):
            found.append(pid)
        stack.extend(children[pid])
    return found


def end_descendants(spare: Iterable[int] = (), rounds: int = 50) -> int:
    """Kill every process below this one except the subtrees of ``spare`` (children that were
    there before the run), including daemons re-parented here (see ``become_subreaper``); repeat
    until none is left (a process may fork while being killed). Returns how many were ended."""
    me, spare, ended = os.getpid(), set(spare), set()
    for _ in range(rounds):
        alive = descendants(me, spare)
        if not alive:
            break
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                ended.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
        _reap(ended)
    _reap(ended)
    return len(ended)


def _reap(pids: Iterable[int]) -> None:
    """Collect the exit status of those of ``pids`` that are (now) children of this process."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


@contextmanager
def terminate_as_exit() -> Iterator[None]:
    """Within the block, SIGTERM (the organiser's kill, a container stop) raises SystemExit like
    Ctrl-C raises KeyboardInterrupt, so ``finally`` clean-up ends the model's processes too. Only in
    the main thread (elsewhere signal handlers cannot be set): then a no-op."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
