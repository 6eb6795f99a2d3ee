// One Python program, run inside a sandbox, that tries the privileged operations a hostile
// workload would try and reports each outcome as an errno name ("EPERM", "ESRCH", …), "ok",
// or "timeout". Python is in the base template and gives direct syscalls through ctypes, so the
// test sees the kernel's (or gVisor's) own answer rather than a CLI's paraphrase of it.

/** Where a probe connects, by name; filled in by the test from what it set up on the host. */
export interface ProbeTargets {
  /** A pid that exists on the host (the test's own process) and must not exist inside. */
  hostPid: number;
  /** host:port pairs that must not answer, by name. */
  connect: Record<string, { host: string; port: number }>;
}

/** Outcome of every probe, by name. */
export type ProbeReport = Record<string, string>;

const program = String.raw`
import ctypes, errno, json, os, socket, stat, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
targets = json.loads(sys.argv[1])
out = {}

def name_of(code):
    return errno.errorcode.get(code, str(code))

def checked(rc):
    if rc == -1:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return rc

def probe(name, fn):
    try:
        r = fn()
        out[name] = "ok" if r is None or isinstance(r, int) else str(r)
    except socket.timeout:
        out[name] = "timeout"
    except OSError as e:
        out[name] = name_of(e.errno) if e.errno is not None else type(e).__name__

host_pid = targets["hostPid"]
probe("kill0-host-pid", lambda: os.kill(host_pid, 0))
probe("ptrace-attach-host-pid", lambda: checked(libc.ptrace(16, host_pid, None, None)))
probe("mount-tmpfs", lambda: checked(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)))
probe("mount-proc", lambda: checked(libc.mount(b"proc", b"/mnt", b"proc", 0, None)))
# MS_REMOUNT | MS_BIND | (no MS_RDONLY): try to make a read-only host bind writable.
probe("remount-rw-resolv", lambda: checked(libc.mount(None, b"/etc/resolv.conf", None, 32 | 4096, None)))
probe("umount-resolv", lambda: checked(libc.umount2(b"/etc/resolv.conf", 2)))
# x86_64: init_module 175, finit_module 313, delete_module 176.
image = ctypes.create_string_buffer(64)
probe("init-module", lambda: checked(libc.syscall(175, image, 64, b"")))
def finit():
    fd = os.open("/dev/null", os.O_RDONLY)
    try:
        return checked(libc.syscall(313, fd, b"", 0))
    finally:
        os.close(fd)
probe("finit-module", finit)
probe("delete-module", lambda: checked(libc.syscall(176, b"loop", 0)))
# Creating the node is the attack; opening it shows whether it reaches a real device.
def mknod_then_open(path, kind, dev):
    os.mknod(path, 0o600 | kind, dev)
    try:
        os.close(os.open(path, os.O_RDONLY))
    finally:
        os.unlink(path)
probe("mknod-block-vda", lambda: mknod_then_open("/tmp/.sphd-vda", stat.S_IFBLK, os.makedev(254, 0)))
probe("mknod-char-mem", lambda: mknod_then_open("/tmp/.sphd-mem", stat.S_IFCHR, os.makedev(1, 1)))
tv = struct.pack("qq", int(time.time()) + 86400 * 365, 0)
probe("settimeofday", lambda: checked(libc.settimeofday(ctypes.c_char_p(tv), None)))
probe("clock-settime", lambda: checked(libc.clock_settime(0, ctypes.c_char_p(tv))))
probe("adjtimex-set", lambda: checked(libc.adjtimex(ctypes.c_char_p(struct.pack("I", 1) + b"\0" * 204))))
probe("socket-af-packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)).close())
probe("socket-raw-icmp", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close())
probe("socket-raw-tcp", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP).close())
def open_write(path):
    # Opening for write is the test; nothing is ever written.
    os.close(os.open(path, os.O_WRONLY))
probe("write-proc-sys", lambda: open_write("/proc/sys/vm/swappiness"))
probe("write-proc-sysrq", lambda: open_write("/proc/sysrq-trigger"))
probe("write-sys-uevent-helper", lambda: open_write("/sys/kernel/uevent_helper"))
def read_head(path):
    with open(path, "rb") as f:
        data = f.read(16)
    return "empty" if len(data) == 0 else "data"
probe("read-proc-kcore", lambda: read_head("/proc/kcore"))
probe("read-proc-keys", lambda: read_head("/proc/keys"))
probe("read-sys-firmware", lambda: str(len(os.listdir("/sys/firmware"))))
probe("sethostname", lambda: checked(libc.sethostname(b"sphd-evil", 9)))
probe("reboot", lambda: checked(libc.reboot(0x4321FEDC)))  # LINUX_REBOOT_CMD_CAD_OFF: harmless if allowed
probe("swapoff", lambda: checked(libc.swapoff(b"/dev/sda")))
def reach(label, t):
    def go():
        s = socket.create_connection((t["host"], t["port"]), timeout=2)
        s.close()
    probe("connect-" + label, go)
# In parallel: each unreachable target costs the whole connect timeout.
import threading
threads = [threading.Thread(target=reach, args=item) for item in targets["connect"].items()]
for t in threads: t.start()
for t in threads: t.join()
out["uid"] = str(os.geteuid())
out["procs"] = str(len([p for p in os.listdir("/proc") if p.isdigit()]))
print(json.dumps(out))
`;

/** The shell command that runs the probe program with the given targets. */
export function attackProbeCommand(targets: ProbeTargets): string {
  const quote = (s: string) => `'${s.replaceAll("'", `'"'"'`)}'`;
  return `python3 -c ${quote(program)} ${quote(JSON.stringify(targets))}`;
}

/** Parses the probe's last stdout line. */
export function parseProbeReport(stdout: string): ProbeReport {
  const line = stdout.trim().split("\n").at(-1) ?? "{}";
  return JSON.parse(line) as ProbeReport;
}
