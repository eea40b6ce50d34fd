/*
 * berth_agent_probe: a static test program run inside containers. Each subcommand tries
 * one thing the hardened profile should forbid (or allow) and prints "<name> ok" or
 * "<name> <errno name>", so tests read the verdict from the container's output.
 *   probe status         print /proc/self/status lines Seccomp, NoNewPrivs, CapEff, and pid
 *   probe syscalls       try mount, unshare(NEWNET), init_module, finit_module, kexec_load,
 *                        bpf, keyctl, reboot, swapon, settimeofday, raw socket
 *   probe forkbomb N     fork until failure, print how many children it got
 *   probe hog            allocate and touch memory forever (for the OOM test)
 *   probe serve PORT     answer "hello from berth\n" to every TCP connection
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/reboot.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static void verdict(const char* name, long r) {
  if (r == 0 || r > 0)
    printf("%s ok\n", name);
  else
    printf("%s %s\n", name, strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) return 2;
  if (!strcmp(argv[1], "status")) {
    printf("pid %d\n", (int)getpid());
    FILE* f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
      if (!strncmp(line, "Seccomp:", 8) || !strncmp(line, "NoNewPrivs:", 11) || !strncmp(line, "CapEff:", 7) ||
          !strncmp(line, "CapBnd:", 7) || !strncmp(line, "Uid:", 4))
        fputs(line, stdout);
    if (f) fclose(f);
    return 0;
  }
  if (!strcmp(argv[1], "syscalls")) {
    errno = 0;
    verdict("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
    verdict("unshare_net", unshare(CLONE_NEWNET));
    verdict("init_module", syscall(SYS_init_module, "", 0, ""));
    verdict("finit_module", syscall(SYS_finit_module, 0, "", 0));
    verdict("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    verdict("bpf", syscall(SYS_bpf, 0, NULL, 0));
    verdict("keyctl", syscall(SYS_keyctl, 0, 0, 0, 0, 0));
    verdict("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, NULL));
    verdict("swapon", syscall(SYS_swapon, "/nonexistent", 0));
    struct timeval tv = {0, 0};
    verdict("settimeofday", settimeofday(&tv, NULL));
    verdict("raw_socket", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    verdict("getpid", getpid());
    return 0;
  }
  if (!strcmp(argv[1], "forkbomb")) {
    int limit = argc > 2 ? atoi(argv[2]) : 100000;
    int n = 0;
    for (; n < limit; ++n) {
      pid_t p = fork();
      if (p < 0) break;
      if (p == 0) {
        pause();
        _exit(0);
      }
    }
    printf("forked %d then %s\n", n, strerrorname_np(errno));
    kill(0, SIGKILL);
    return 0;
  }
  if (!strcmp(argv[1], "hog")) {
    size_t total = 0;
    for (;;) {
      char* p = malloc(1 << 20);
      if (!p) continue;
      memset(p, 1, 1 << 20);
      total += 1;
      if (total % 16 == 0) printf("hog %zu MiB\n", total);
    }
  }
  if (!strcmp(argv[1], "serve")) {
    int port = argc > 2 ? atoi(argv[2]) : 8080;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (bind(s, (struct sockaddr*)&a, sizeof a) != 0 || listen(s, 16) != 0) {
      perror("listen");
      return 1;
    }
    printf("listening on %d\n", port);
    for (;;) {
      int c = accept(s, NULL, NULL);
      if (c < 0) continue;
      const char* msg = "hello from berth\n";
      (void)!write(c, msg, strlen(msg));
      close(c);
    }
  }
  return 2;
}
