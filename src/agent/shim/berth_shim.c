/*
 * berth-shim: the one small process the agent keeps per container, so that a container
 * outlives the agent that started it.
 *
 * The agent runs `berth-shim -s STATE -b BUNDLE -i ID -r RUNTIME -R RUNTIME_ROOT
 * [-l MAX_LOG_BYTES] [-k KEEP_FILES] [-o OOM_FILE] [-m]`. The shim detaches (one fork,
 * setsid), becomes a child subreaper, and runs `RUNTIME --root RUNTIME_ROOT run -d
 * --pid-file STATE/init.pid --bundle BUNDLE ID` with the container's stdout and stderr on
 * two pipes it owns. Once the runtime reports the container started, the first process
 * prints the container's pid (or the runtime's error on stderr, exit status 1) and exits,
 * so the agent's call returns synchronously.
 *
 * The detached shim then copies both pipes into STATE/container.log in the CRI log format
 * ("<RFC3339Nano> stdout|stderr F|P <line>"), rotating to container.log.1..K when the file
 * would exceed MAX_LOG_BYTES. When the container's init exits it is reaped here (the shim is
 * its subreaper), the OOM-kill counter of its memory cgroup is read from OOM_FILE
 * ("oom_kill N", cgroup v1 memory.oom_control or v2 memory.events), `RUNTIME delete -f ID`
 * releases the cgroup, and only then is STATE/exit.json written (atomically): once it exists
 * the id is free to run again.
 *
 * With -c the start is split in two, so that the agent can configure the container's network
 * namespace while the runtime creates the container: the shim runs `RUNTIME create` instead,
 * and once it has succeeded the first process prints "CR <pid>" on a line of its own and
 * the shim waits for the agent to write "g" on the shim's stdin; then it runs `RUNTIME start
 * ID` and the first process prints the pid as above. End of stdin without "g" (the agent
 * gave up, or died) deletes the created container: the start failed.
 *
 * With -f (runc), the start is what `runc start` does without executing another runc (a Go
 * program, slow to start): read runc's exec.fifo (<root>/<id>/exec.fifo), which the created
 * container's init blocks on, until the init closes it by executing the container's process,
 * then remove it. Without such a fifo, `RUNTIME start` runs as above.
 *
 * With -m, every runtime command runs in a private mount namespace without
 * /sys/fs/cgroup/unified (crun 1.8 on a hybrid cgroup host; see runtime/cgroup_layout.h).
 *
 * C and statically linked on purpose: a few hundred KB of resident memory per container.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 16384

static const char* state_dir;
static const char* bundle;
static const char* id;
static const char* runtime;
static const char* runtime_root;
static const char* oom_file;
static long long max_log = 10 * 1024 * 1024;
static int keep_files = 3;
static int hide_cgroup2;
static int split_start;   /* -c: create, wait for the agent's go, start */
static int start_by_fifo; /* -f: start as `runc start` does, without executing it */

static int log_fd = -1;
static long long log_size;

struct stream {
  int fd;
  const char* name;
  char buf[LINE_MAX_BYTES];
  size_t len;
};

static void path_in_state(char* out, size_t n, const char* file) {
  snprintf(out, n, "%s/%s", state_dir, file);
}

static void open_log(void) {
  char p[4096];
  path_in_state(p, sizeof p, "container.log");
  log_fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  struct stat st;
  log_size = (log_fd >= 0 && fstat(log_fd, &st) == 0) ? st.st_size : 0;
}

static void rotate(void) {
  char from[4096], to[4096];
  if (log_fd >= 0) close(log_fd);
  for (int i = keep_files; i >= 1; --i) {
    if (i == 1)
      path_in_state(from, sizeof from, "container.log");
    else
      snprintf(from, sizeof from, "%s/container.log.%d", state_dir, i - 1);
    snprintf(to, sizeof to, "%s/container.log.%d", state_dir, i);
    rename(from, to);
  }
  if (keep_files <= 0) {
    path_in_state(from, sizeof from, "container.log");
    unlink(from);
  }
  open_log();
}

static void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    n -= (size_t)w;
  }
}

static void emit(struct stream* s, const char* data, size_t n, int partial) {
  char head[96];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  int h = snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ %s %c ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec, s->name, partial ? 'P' : 'F');
  long long need = h + (long long)n + 1;
  if (log_size > 0 && log_size + need > max_log) rotate();
  if (log_fd < 0) return;
  /* One write per line keeps lines whole for readers tailing the file. */
  char out[LINE_MAX_BYTES + 128];
  memcpy(out, head, (size_t)h);
  memcpy(out + h, data, n);
  out[h + n] = '\n';
  write_all(log_fd, out, (size_t)h + n + 1);
  log_size += need;
}

/* Splits what arrived into lines; a line longer than the buffer goes out as partial. */
static void feed(struct stream* s, const char* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (data[i] == '\n') {
      emit(s, s->buf, s->len, 0);
      s->len = 0;
      continue;
    }
    if (s->len == sizeof s->buf) {
      emit(s, s->buf, s->len, 1);
      s->len = 0;
    }
    s->buf[s->len++] = data[i];
  }
}

static void flush_stream(struct stream* s) {
  if (s->len > 0) emit(s, s->buf, s->len, 0);
  s->len = 0;
}

static long long read_oom_kills(void) {
  if (!oom_file || !*oom_file) return 0;
  FILE* f = fopen(oom_file, "re");
  if (!f) return 0;
  char line[256];
  long long v = 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "oom_kill ", 9) == 0) v = atoll(line + 9);
  fclose(f);
  return v;
}

static void write_exit(int status, int start_failed, long long oom, const char* error) {
  char path[4096], tmp[4096], body[1024];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int code = -1, sig = 0;
  if (WIFEXITED(status)) code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    sig = WTERMSIG(status);
    code = 128 + sig;
  }
  char err[512] = "";
  if (error) {
    size_t j = 0;
    for (size_t i = 0; error[i] && j < sizeof err - 2; ++i) {
      char c = error[i];
      if (c == '"' || c == '\\') err[j++] = '\\';
      err[j++] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    }
    err[j] = 0;
  }
  snprintf(body, sizeof body,
           "{\"exit_code\":%d,\"signal\":%d,\"oom_killed\":%s,\"start_failed\":%s,"
           "\"error\":\"%s\",\"finished_ms\":%lld}\n",
           code, sig, oom > 0 ? "true" : "false", start_failed ? "true" : "false", err,
           (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
  path_in_state(path, sizeof path, "exit.json");
  path_in_state(tmp, sizeof tmp, "exit.json.tmp");
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  write_all(fd, body, strlen(body));
  fsync(fd);
  close(fd);
  rename(tmp, path);
}

/* In a freshly forked child: a mount namespace without the cgroup v2 hierarchy. */
static int prepare_runtime_child(void) {
  if (!hide_cgroup2) return 0;
  if (unshare(CLONE_NEWNS) != 0) return errno;
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) return errno;
  if (umount2("/sys/fs/cgroup/unified", MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return errno;
  return 0;
}

static void run_delete(void) {
  pid_t p = fork();
  if (p == 0) {
    int nul = open("/dev/null", O_RDWR);
    dup2(nul, 0);
    dup2(nul, 1);
    dup2(nul, 2);
    if (prepare_runtime_child() != 0) _exit(126);
    execl(runtime, runtime, "--root", runtime_root, "delete", "-f", id, (char*)NULL);
    _exit(127);
  }
  if (p > 0) {
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

/* 1: the init is gone (exited, or a zombie not reaped yet). */
static int init_gone(pid_t pid) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) return errno == ECHILD;
  return si.si_pid == pid;
}

/* `runc start` done here (-f): 0 started, 1 no fifo (run the runtime's start), -1 the
 * container's init ended first. */
static int start_through_fifo(pid_t init_pid) {
  char fifo[4096];
  snprintf(fifo, sizeof fifo, "%s/%s/exec.fifo", runtime_root, id);
  int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return 1;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
    close(fd);
    return 1;
  }
  /* Opening it released the init's blocked open for writing: it writes one byte and closes
   * the fifo when it executes the container's process (close-on-exec). */
  size_t got = 0;
  int result = 0;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, 100);
    if (r < 0 && errno != EINTR) {
      result = -1;
      break;
    }
    if (r > 0) {
      char b[64];
      ssize_t n = read(fd, b, sizeof b);
      if (n > 0) {
        got += (size_t)n;
        continue;
      }
      if (n == 0 && got > 0) break;
      if (n == 0) { /* a writer came and went without a byte: the init failed */
        result = -1;
        break;
      }
      if (errno == EAGAIN || errno == EINTR) continue;
      result = -1;
      break;
    }
    if (r == 0 && init_gone(init_pid)) {
      /* Ended before it opened the fifo, or between our polls: what it wrote is still
       * there if it got that far. */
      char b[64];
      ssize_t n = read(fd, b, sizeof b);
      result = (got > 0 || n > 0) ? 0 : -1;
      break;
    }
  }
  close(fd);
  if (result == 0) unlink(fifo);
  return result;
}

static int usage(void) {
  fprintf(stderr,
          "usage: berth-shim -s STATE -b BUNDLE -i ID -r RUNTIME -R ROOT [-l BYTES] [-k N] "
          "[-o OOM_FILE] [-m] [-c [-f]]\n");
  return 2;
}

int main(int argc, char** argv) {
  int opt;
  while ((opt = getopt(argc, argv, "s:b:i:r:R:l:k:o:mcf")) != -1) {
    switch (opt) {
      /* clang-format off */
      case 's': state_dir = optarg; break;
      case 'b': bundle = optarg; break;
      case 'i': id = optarg; break;
      case 'r': runtime = optarg; break;
      case 'R': runtime_root = optarg; break;
      case 'l': max_log = atoll(optarg); break;
      case 'k': keep_files = atoi(optarg); break;
      case 'o': oom_file = optarg; break;
      case 'm': hide_cgroup2 = 1; break;
      case 'c': split_start = 1; break;
      case 'f': start_by_fifo = 1; break;
      default: return usage();
        /* clang-format on */
    }
  }
  if (!state_dir || !bundle || !id || !runtime || !runtime_root) return usage();
  if (max_log < 4096) max_log = 4096;

  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return 1;
  pid_t child = fork();
  if (child < 0) return 1;
  if (child > 0) {
    /* The agent-facing process: relay the outcome and leave. */
    close(report[1]);
    char msg[8192];
    size_t got = 0;
    for (;;) {
      ssize_t r = read(report[0], msg + got, sizeof msg - 1 - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += (size_t)r;
      /* "CR <pid>\n" (with -c): relay it at once, the agent answers on our stdin. */
      if (got >= 3 && memcmp(msg, "CR ", 3) == 0) {
        char* nl = memchr(msg, '\n', got);
        if (!nl) continue;
        size_t line = (size_t)(nl - msg) + 1;
        write_all(1, msg, line);
        memmove(msg, msg + line, got - line);
        got -= line;
        continue;
      }
      if (got == sizeof msg - 1) break;
    }
    msg[got] = 0;
    if (got > 2 && msg[0] == 'O' && msg[1] == 'K') {
      printf("%s\n", msg + 3);
      return 0;
    }
    fprintf(stderr, "%s\n",
            got ? msg + (got > 2 ? 3 : 0) : "shim died before the container started");
    return 1;
  }
  /* The long-lived shim: a session of its own; orphaned (adopted by init) when the first
   * process exits, so it outlives the agent. One fork, not two: on a loaded machine every
   * process hand-off before the runtime starts costs a scheduling delay. */
  close(report[0]);
  setsid();

  int go_fd = split_start ? fcntl(0, F_DUPFD_CLOEXEC, 3) : -1;
  int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
  dup2(nul, 0);
  dup2(nul, 1);
  dup2(nul, 2);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  prctl(PR_SET_NAME, "berth-shim");
  {
    char p[4096], pid[32];
    path_in_state(p, sizeof p, "shim.pid");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (fd >= 0) {
      write_all(fd, pid, (size_t)n);
      close(fd);
    }
  }
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    write_all(report[1], "ER pipe failed", 14);
    _exit(1);
  }
  long long oom_before = read_oom_kills();
  char pidfile[4096];
  path_in_state(pidfile, sizeof pidfile, "init.pid");
  unlink(pidfile);
  pid_t rt = fork();
  if (rt == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    dup2(out[1], 1);
    dup2(err[1], 2);
    int e = prepare_runtime_child();
    if (e != 0) {
      dprintf(2, "%s: mount namespace without cgroup v2: %s", runtime, strerror(e));
      _exit(126);
    }
    if (split_start)
      execl(runtime, runtime, "--root", runtime_root, "create", "--pid-file", pidfile, "--bundle",
            bundle, id, (char*)NULL);
    else
      execl(runtime, runtime, "--root", runtime_root, "run", "-d", "--pid-file", pidfile,
            "--bundle", bundle, id, (char*)NULL);
    dprintf(2, "exec %s: %s", runtime, strerror(errno));
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  int rt_status = 0;
  while (waitpid(rt, &rt_status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(rt_status) || WEXITSTATUS(rt_status) != 0) {
    /* The container never started: the runtime's complaint is what the agent reports. */
    char msg[4096] = "ER ";
    size_t got = 3;
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    ssize_t r;
    while (got < sizeof msg - 1 && (r = read(err[0], msg + got, sizeof msg - 1 - got)) > 0)
      got += (size_t)r;
    msg[got] = 0;
    if (got == 3) snprintf(msg + 3, sizeof msg - 3, "%s run failed", runtime);
    run_delete();
    write_exit(rt_status, 1, 0, msg + 3);
    write_all(report[1], msg, strlen(msg));
    _exit(1);
  }
  pid_t init_pid = 0;
  {
    char buf[32] = "";
    int fd = open(pidfile, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t r = read(fd, buf, sizeof buf - 1);
      if (r > 0) buf[r] = 0;
      close(fd);
    }
    init_pid = (pid_t)atoi(buf);
  }
  if (init_pid <= 0) {
    write_all(report[1], "ER no init pid", 14);
    _exit(1);
  }
  if (split_start) {
    char cr[64];
    int n = snprintf(cr, sizeof cr, "CR %d\n", (int)init_pid);
    write_all(report[1], cr, (size_t)n);
    char go = 0;
    ssize_t r;
    while ((r = read(go_fd, &go, 1)) < 0 && errno == EINTR) {
    }
    close(go_fd);
    const char* failure = NULL;
    char msg[4096] = "ER ";
    int st = 0;
    if (r != 1 || go != 'g') {
      failure = "start cancelled by the agent";
    } else if (start_by_fifo && (r = start_through_fifo(init_pid)) <= 0) {
      if (r < 0) failure = "the container's process ended before it was started";
    } else {
      int serr[2];
      pid_t sp = -1;
      if (pipe2(serr, O_CLOEXEC) == 0) sp = fork();
      if (sp == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(serr[1], 2);
        int e = prepare_runtime_child();
        if (e != 0) {
          dprintf(2, "%s: mount namespace without cgroup v2: %s", runtime, strerror(e));
          _exit(126);
        }
        execl(runtime, runtime, "--root", runtime_root, "start", id, (char*)NULL);
        dprintf(2, "exec %s: %s", runtime, strerror(errno));
        _exit(127);
      }
      if (sp < 0) {
        failure = "fork for the runtime's start failed";
      } else {
        close(serr[1]);
        size_t got = 3;
        ssize_t m;
        while (got < sizeof msg - 1 && ((m = read(serr[0], msg + got, sizeof msg - 1 - got)) > 0 ||
                                        (m < 0 && errno == EINTR)))
          if (m > 0) got += (size_t)m;
        msg[got] = 0;
        close(serr[0]);
        while (waitpid(sp, &st, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) failure = got > 3 ? msg + 3 : "start failed";
      }
    }
    if (failure) {
      char err_text[4000];
      snprintf(err_text, sizeof err_text, "%.3990s", failure);
      run_delete();
      /* The created container's init, reparented here, is gone with the delete. */
      while (waitpid(-1, NULL, WNOHANG) > 0) {
      }
      write_exit(st ? st : (1 << 8), 1, 0, err_text);
      snprintf(msg, sizeof msg, "ER %s", err_text);
      write_all(report[1], msg, strlen(msg));
      _exit(1);
    }
  }
  {
    char ok[64];
    int n = snprintf(ok, sizeof ok, "OK %d", (int)init_pid);
    write_all(report[1], ok, (size_t)n);
    close(report[1]);
  }

  open_log();
  static struct stream so = {.name = "stdout"}, se = {.name = "stderr"};
  so.fd = out[0];
  se.fd = err[0];
  int init_done = 0, init_status = 0;
  int idle_after_exit = 0;
  char buf[65536];
  while (so.fd >= 0 || se.fd >= 0 || !init_done) {
    struct pollfd p[3];
    int n = 0;
    p[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    if (so.fd >= 0) p[n++] = (struct pollfd){.fd = so.fd, .events = POLLIN};
    if (se.fd >= 0) p[n++] = (struct pollfd){.fd = se.fd, .events = POLLIN};
    int timeout = init_done ? 100 : -1;
    int r = poll(p, (nfds_t)n, timeout);
    if (r < 0 && errno != EINTR) break;
    if (r == 0 && init_done && ++idle_after_exit > 20) break; /* stray holders of the pipes */
    for (int i = 0; i < n; ++i) {
      if (!p[i].revents) continue;
      if (p[i].fd == sfd) {
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) > 0) {
        }
        continue;
      }
      struct stream* s = p[i].fd == so.fd ? &so : &se;
      ssize_t got = read(s->fd, buf, sizeof buf);
      if (got > 0) {
        feed(s, buf, (size_t)got);
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        flush_stream(s);
        close(s->fd);
        s->fd = -1;
      }
    }
    for (;;) {
      int st;
      pid_t w = waitpid(-1, &st, WNOHANG);
      if (w <= 0) break;
      if (w == init_pid) {
        init_done = 1;
        init_status = st;
      }
    }
  }
  if (so.fd >= 0) flush_stream(&so);
  if (se.fd >= 0) flush_stream(&se);
  /* The OOM counter dies with the cgroup, so read it first; delete before exit.json so
   * that the agent, seeing exit.json, may start the same id again at once. */
  long long oom = read_oom_kills() - oom_before;
  run_delete();
  write_exit(init_status, 0, oom, NULL);
  return 0;
}
