// The agent's process launcher: a small static program the agent starts once and asks to
// start its commands (vfork + exec). That costs a fraction of forking the agent's Node process
// (~100 MB of page tables to copy, the event loop blocked meanwhile), and gives commands real
// pipes as stdio, which they can reopen as /dev/stdout, /dev/stderr and /dev/stdin.
//
// Control channel: fd 3, a socket to the agent. Both directions carry frames of a 4-byte
// little-endian length followed by NUL-terminated fields, the first one naming the message.
//
//   agent -> launcher
//     S id uid gid groups cwd stdin argc arg... envc env...   start a command (uid "-": keep ours)
//     K pid signo                                             signal a child not yet reaped
//     R id                                                    release the pipe ends of a start
//   launcher -> agent
//     P id pid stdinFd stdoutFd stderrFd   started; the agent opens /proc/<launcher>/fd/<n>
//     F id errno message                   not started (the child, if any, is already reaped)
//     X pid code signo                     a child ended (code -1 when a signal ended it)
//
// The launcher keeps the agent's ends of a command's pipes open until the agent releases them,
// so a command that exits at once neither meets a pipe without reader nor loses its output.
// When the agent goes away (end of file on fd 3), every command still running is SIGKILLed.
//
// Argument: `nofile=N` gives commands a soft RLIMIT_NOFILE of N. Node raises its own soft limit
// to the hard one at startup and we inherit that; commands get what the agent was started with.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONTROL_FD 3
#define MAX_FRAME (64u << 20)

struct child {
  pid_t pid;
};

struct held {
  char id[32];
  int fds[4];
};

static struct child *children;
// The soft RLIMIT_NOFILE of commands; RLIM_INFINITY: leave ours.
static rlim_t command_nofile = RLIM_INFINITY;
static size_t child_count, child_cap;
static struct held *helds;
static size_t held_count, held_cap;

static void die(const char *what) {
  fprintf(stderr, "sandpit-launcher: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void *grow(void *array, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return array;
  size_t next = *cap ? *cap * 2 : 16;
  while (next < need) next *= 2;
  void *grown = realloc(array, next * size);
  if (!grown) die("realloc");
  *cap = next;
  return grown;
}

static void write_all(const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(CONTROL_FD, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      // The agent is gone; the read side notices and cleans up.
      return;
    }
    data += n;
    len -= (size_t)n;
  }
}

// Sends one frame of `count` string fields.
static void send_frame(const char *const *fields, size_t count) {
  size_t len = 0;
  for (size_t i = 0; i < count; i++) len += strlen(fields[i]) + 1;
  char *frame = malloc(len + 4);
  if (!frame) die("malloc");
  frame[0] = (char)(len & 0xff);
  frame[1] = (char)((len >> 8) & 0xff);
  frame[2] = (char)((len >> 16) & 0xff);
  frame[3] = (char)((len >> 24) & 0xff);
  size_t at = 4;
  for (size_t i = 0; i < count; i++) {
    size_t l = strlen(fields[i]) + 1;
    memcpy(frame + at, fields[i], l);
    at += l;
  }
  write_all(frame, at);
  free(frame);
}

static void send_failure(const char *id, int err, const char *what) {
  char errno_text[16], message[256];
  snprintf(errno_text, sizeof errno_text, "%d", err);
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  const char *fields[] = {"F", id, errno_text, message};
  send_frame(fields, 4);
}

static void send_exit(pid_t pid, int status) {
  char pid_text[16], code[16], signo[16];
  snprintf(pid_text, sizeof pid_text, "%d", (int)pid);
  if (WIFSIGNALED(status)) {
    snprintf(code, sizeof code, "-1");
    snprintf(signo, sizeof signo, "%d", WTERMSIG(status));
  } else {
    snprintf(code, sizeof code, "%d", WEXITSTATUS(status));
    snprintf(signo, sizeof signo, "0");
  }
  const char *fields[] = {"X", pid_text, code, signo};
  send_frame(fields, 4);
}

static int find_child(pid_t pid) {
  for (size_t i = 0; i < child_count; i++)
    if (children[i].pid == pid) return (int)i;
  return -1;
}

static void close_fd(int fd) {
  if (fd >= 0) close(fd);
}

// What a child reports through its close-on-exec pipe when it cannot become the command.
struct exec_failure {
  int err;
  char what[24];
};

__attribute__((noreturn)) static void fail_child(int report_fd, const char *what) {
  struct exec_failure f = {.err = errno};
  snprintf(f.what, sizeof f.what, "%s", what);
  ssize_t ignored = write(report_fd, &f, sizeof f);
  (void)ignored;
  _exit(127);
}

// execve, and like execvp a file without a #! line (ENOEXEC) is run by /bin/sh.
static void exec_file(const char *file, char *const argv[], char *const envp[]) {
  execve(file, argv, envp);
  if (errno != ENOEXEC) return;
  size_t argc = 0;
  while (argv[argc]) argc++;
  // On the stack: the child shares our memory until it execs, so no allocation here.
  char *sh_argv[argc + 2];
  sh_argv[0] = "sh";
  sh_argv[1] = (char *)file;
  for (size_t i = 1; i <= argc; i++) sh_argv[i + 1] = argv[i];
  execve("/bin/sh", sh_argv, envp);
  errno = ENOEXEC;
}

// execvp's search, but over the PATH of the command's own environment, as libuv does.
static void exec_command(char *const argv[], char *const envp[]) {
  const char *cmd = argv[0];
  if (strchr(cmd, '/')) {
    exec_file(cmd, argv, envp);
    return;
  }
  const char *path = NULL;
  for (char *const *e = envp; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  int saw_eacces = 0;
  char candidate[PATH_MAX];
  for (const char *dir = path;; dir = strchr(dir, ':') + 1) {
    const char *end = strchr(dir, ':');
    size_t dlen = end ? (size_t)(end - dir) : strlen(dir);
    if (dlen == 0) snprintf(candidate, sizeof candidate, "%s", cmd);
    else snprintf(candidate, sizeof candidate, "%.*s/%s", (int)dlen, dir, cmd);
    exec_file(candidate, argv, envp);
    if (errno == EACCES) saw_eacces = 1;
    else if (errno != ENOENT && errno != ENOTDIR) return;
    if (!end) break;
  }
  errno = saw_eacces ? EACCES : ENOENT;
}

struct start_request {
  const char *id;
  const char *uid;
  const char *gid;
  const char *groups;
  const char *cwd;
  int with_stdin;
  char **argv;
  char **envp;
};

__attribute__((noreturn)) static void run_child(const struct start_request *req, int in_fd, int out_fd,
                                                int err_fd, int report_fd) {
  // A command starts with default signal handling and nothing blocked, whatever we inherited.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  // Its own process group: a signal from the client reaches everything the command started
  // (a shell's children included), not only the shell.
  setpgid(0, 0);

  if (in_fd < 0) in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in_fd < 0) fail_child(report_fd, "open /dev/null");
  // Every descriptor is above 2 (main() keeps 0-2 taken), so the dup2s cannot clobber each other.
  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) fail_child(report_fd, "dup2");

  // envd's OOM preference for user processes (the agent should outlive them); best effort.
  int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom >= 0) {
    ssize_t ignored = write(oom, "100", 3);
    (void)ignored;
    close(oom);
  }

  // Like node's spawn: the directory is entered before the user is switched.
  if (chdir(req->cwd) < 0) fail_child(report_fd, "chdir");
  if (strcmp(req->uid, "-") != 0) {
    static gid_t groups[NGROUPS_MAX];
    size_t ngroups = 0;
    const char *g = req->groups;
    while (*g && ngroups < NGROUPS_MAX) {
      char *next;
      groups[ngroups++] = (gid_t)strtoul(g, &next, 10);
      if (*next != ',') break;
      g = next + 1;
    }
    if (setgroups(ngroups, groups) < 0) fail_child(report_fd, "setgroups");
    if (setgid((gid_t)strtoul(req->gid, NULL, 10)) < 0) fail_child(report_fd, "setgid");
    if (setuid((uid_t)strtoul(req->uid, NULL, 10)) < 0) fail_child(report_fd, "setuid");
  }
  // Last: a low limit must not stop the opens above (lowering the soft limit is always allowed).
  if (command_nofile != RLIM_INFINITY) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && command_nofile < limit.rlim_cur) {
      limit.rlim_cur = command_nofile;
      setrlimit(RLIMIT_NOFILE, &limit);
    }
  }
  exec_command(req->argv, req->envp);
  fail_child(report_fd, "exec");
}

static void hold(const char *id, const int fds[4]) {
  helds = grow(helds, &held_cap, held_count + 1, sizeof *helds);
  struct held *h = &helds[held_count++];
  snprintf(h->id, sizeof h->id, "%s", id);
  memcpy(h->fds, fds, sizeof h->fds);
}

static void release(const char *id) {
  for (size_t i = 0; i < held_count; i++) {
    if (strcmp(helds[i].id, id) != 0) continue;
    for (int j = 0; j < 4; j++) close_fd(helds[i].fds[j]);
    helds[i] = helds[--held_count];
    return;
  }
}

static void start(const struct start_request *req) {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, report[2] = {-1, -1};
  if ((req->with_stdin && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 ||
      pipe2(err, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0) {
    int e = errno;
    int all[] = {in[0], in[1], out[0], out[1], err[0], err[1], report[0], report[1]};
    for (int i = 0; i < 8; i++) close_fd(all[i]);
    send_failure(req->id, e, "pipe");
    return;
  }
  // A pipe belongs to whoever made it, with mode 0600: a command switched to another user could
  // not open its own /dev/stdout (/proc/self/fd/1) then. So the pipes become that user's.
  if (strcmp(req->uid, "-") != 0) {
    uid_t uid = (uid_t)strtoul(req->uid, NULL, 10);
    gid_t gid = (gid_t)strtoul(req->gid, NULL, 10);
    int ends[] = {in[0], out[0], err[0]};
    for (int i = 0; i < 3; i++)
      if (ends[i] >= 0 && fchown(ends[i], uid, gid) < 0) {
        // Best effort: the command still runs, only reopening its stdio would be refused.
      }
  }
  // vfork: no copy of our address space at all (measured under gVisor: 3-5 ms to the exec of
  // /bin/true against 11-13 ms with fork). The child only makes system calls on its own stack
  // and never returns from here: it execs or _exits, and we sleep until it has.
  pid_t pid = vfork();
  if (pid == 0) run_child(req, in[0], out[1], err[1], report[1]);
  int fork_errno = errno;
  // The child's setuid ran on the address space it shared with us, and a credential change marks
  // that space non-dumpable: the agent (without CAP_SYS_PTRACE) could then not open our
  // /proc/<pid>/fd entries. The child has its own address space now; ours is ours again.
  if (pid > 0) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  close(report[1]);
  close(out[1]);
  close(err[1]);
  struct exec_failure failure;
  ssize_t n = -1;
  if (pid > 0) {
    do n = read(report[0], &failure, sizeof failure);
    while (n < 0 && errno == EINTR);
  }
  close(report[0]);
  if (pid < 0 || n > 0) {
    if (pid > 0) {
      int status;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR);
    }
    int all[] = {in[0], in[1], out[0], err[0]};
    for (int i = 0; i < 4; i++) close_fd(all[i]);
    if (pid < 0) send_failure(req->id, fork_errno, "fork");
    else send_failure(req->id, failure.err, failure.what);
    return;
  }
  children = grow(children, &child_cap, child_count + 1, sizeof *children);
  children[child_count++].pid = pid;
  // The child's end of stdin stays held too, so the agent's open of the write end finds a reader.
  int held_fds[4] = {in[0], in[1], out[0], err[0]};
  hold(req->id, held_fds);
  char pid_text[16], in_text[16], out_text[16], err_text[16];
  snprintf(pid_text, sizeof pid_text, "%d", (int)pid);
  snprintf(in_text, sizeof in_text, "%d", in[1]);
  snprintf(out_text, sizeof out_text, "%d", out[0]);
  snprintf(err_text, sizeof err_text, "%d", err[0]);
  const char *fields[] = {"P", req->id, pid_text, in_text, out_text, err_text};
  send_frame(fields, 6);
}

// The command's group first, then the command itself, which may have left that group.
static void signal_command(pid_t pid, int sig) {
  kill(-pid, sig);
  kill(pid, sig);
}

// Splits a frame into its NUL-terminated fields (a fresh array); returns how many, or -1.
static long split(char *frame, size_t len, char ***fields) {
  if (len == 0 || frame[len - 1] != '\0') return -1;
  size_t count = 0;
  for (size_t at = 0; at < len; at++)
    if (frame[at] == '\0') count++;
  *fields = malloc(count * sizeof **fields);
  if (!*fields) die("malloc");
  size_t i = 0;
  for (size_t at = 0; at < len; at += strlen(frame + at) + 1) (*fields)[i++] = frame + at;
  return (long)count;
}

static void handle_start(char **f, long count) {
  // S id uid gid groups cwd stdin argc arg... envc env...
  if (count < 8) return;
  struct start_request req = {
      .id = f[1], .uid = f[2], .gid = f[3], .groups = f[4], .cwd = f[5], .with_stdin = strcmp(f[6], "1") == 0};
  long argc = strtol(f[7], NULL, 10);
  if (argc < 1 || 8 + argc >= count) {
    send_failure(f[1], EINVAL, "request");
    return;
  }
  long envc = strtol(f[8 + argc], NULL, 10);
  if (envc < 0 || 9 + argc + envc != count) {
    send_failure(f[1], EINVAL, "request");
    return;
  }
  // argv and envp need a terminating NULL: the slots are rebuilt in a separate array.
  char **argv = calloc((size_t)argc + 1, sizeof *argv);
  char **envp = calloc((size_t)envc + 1, sizeof *envp);
  if (!argv || !envp) die("calloc");
  memcpy(argv, f + 8, (size_t)argc * sizeof *argv);
  memcpy(envp, f + 9 + argc, (size_t)envc * sizeof *envp);
  req.argv = argv;
  req.envp = envp;
  start(&req);
  free(argv);
  free(envp);
}

static void handle_frame(char *frame, size_t len) {
  char **fields;
  long count = split(frame, len, &fields);
  if (count < 1) return;
  const char *op = fields[0];
  if (strcmp(op, "S") == 0) {
    handle_start(fields, count);
  } else if (strcmp(op, "K") == 0 && count == 3) {
    pid_t pid = (pid_t)strtol(fields[1], NULL, 10);
    // Only a child not yet reaped: its PID cannot have been reused by anybody else.
    if (pid > 0 && find_child(pid) >= 0) signal_command(pid, (int)strtol(fields[2], NULL, 10));
  } else if (strcmp(op, "R") == 0 && count == 2) {
    release(fields[1]);
  }
  free(fields);
}

static void reap(void) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    int at = find_child(pid);
    if (at < 0) continue;
    children[at] = children[--child_count];
    send_exit(pid, status);
  }
}

static void kill_all_and_exit(void) {
  for (size_t i = 0; i < child_count; i++) signal_command(children[i].pid, SIGKILL);
  // Exits only once they are gone: whoever waits for us knows no command of ours still runs.
  for (size_t i = 0; i < child_count; i++)
    while (waitpid(children[i].pid, NULL, 0) < 0 && errno == EINTR);
  exit(0);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], "nofile=", 7) == 0) command_nofile = (rlim_t)strtoull(argv[i] + 7, NULL, 10);
  // 0-2 must be taken so that no pipe lands on them (the child's dup2s rely on it).
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0) die("open /dev/null");
  if (fcntl(CONTROL_FD, F_SETFD, FD_CLOEXEC) < 0) die("control channel (fd 3)");
  int flags = fcntl(CONTROL_FD, F_GETFL);
  if (flags >= 0) fcntl(CONTROL_FD, F_SETFL, flags & ~O_NONBLOCK);
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0) die("sigprocmask");
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd");

  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) die("malloc");
  for (;;) {
    struct pollfd fds[2] = {{.fd = CONTROL_FD, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[1].revents) {
      struct signalfd_siginfo info;
      while (read(sfd, &info, sizeof info) > 0);
      reap();
    }
    if (!fds[0].revents) continue;
    if (len == cap) {
      cap *= 2;
      char *grown = realloc(buf, cap);
      if (!grown) die("realloc");
      buf = grown;
    }
    ssize_t n = read(CONTROL_FD, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) kill_all_and_exit();
    len += (size_t)n;
    size_t at = 0;
    while (len - at >= 4) {
      const unsigned char *p = (const unsigned char *)buf + at;
      size_t frame = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
      if (frame > MAX_FRAME) die("frame too large");
      if (len - at - 4 < frame) {
        if (frame + 4 > cap) {
          while (cap < frame + 4) cap *= 2;
          char *grown = realloc(buf, cap);
          if (!grown) die("realloc");
          buf = grown;
        }
        break;
      }
      handle_frame(buf + at + 4, frame);
      at += 4 + frame;
    }
    memmove(buf, buf + at, len - at);
    len -= at;
  }
}
