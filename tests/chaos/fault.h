// The chaos suite's fault injection (tests/chaos/*_it.cc): the faults a Berth cluster meets,
// made real. Process kills and freezes go through the harness's Process::Kill (SIGKILL,
// SIGSTOP/SIGCONT) and EtcdCluster::KillMember; this library adds what signals cannot fake.
//
// - NetnsLink: a network namespace joined to the host by a veth pair; processes started in it
//   (ExecPrefix) reach the host at host_address(). Cut() drops every packet between the two
//   with an nftables table inside the namespace (a partition that signals cannot fake);
//   Heal() removes it.
// - SmallDisk: a size-limited tmpfs mounted on a directory; Fill() writes a filler file until
//   the file system is full (ENOSPC), Free() deletes it.
// - FakeClock: the wall clock of processes started with its Env() (Debian's libfaketime):
//   Jump(offset) moves their CLOCK_REALTIME by `offset` from the real time, as an NTP step or
//   `date -s` would; their monotonic clock is left alone (so is the host's clock).
// - Signal: kill(2) with an error naming the process.
//
// The objects undo their fault when destroyed (namespace deleted, tmpfs unmounted). Needs
// root (ip, nft, mount). Thread-safety: one object per thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace berth::chaos {

class NetnsLink {
 public:
  // Creates namespace `name` (at most 10 characters: it names the veths too) linked to the
  // host over 10.<subnet / 256>.<subnet % 256>.0/30 (host .1, namespace .2); `subnet`
  // chooses the /30 (0..65535, keep them apart between links).
  static Result<std::unique_ptr<NetnsLink>> Create(std::string name, int subnet);
  ~NetnsLink();
  NetnsLink(const NetnsLink&) = delete;
  NetnsLink& operator=(const NetnsLink&) = delete;

  const std::string& name() const { return name_; }
  const std::string& host_address() const { return host_; }
  const std::string& ns_address() const { return ns_; }
  // Prefix an argv with this to run it inside the namespace (nsenter, not `ip netns exec`:
  // that one also remounts /sys, which hides the cgroup file system a node agent needs).
  std::vector<std::string> ExecPrefix() const {
    return {"nsenter", "--net=/run/netns/" + name_, "--"};
  }

  Result<void> Cut();
  Result<void> Heal();
  bool cut() const { return cut_; }

 private:
  NetnsLink(std::string name, std::string host, std::string ns)
      : name_(std::move(name)), host_(std::move(host)), ns_(std::move(ns)) {}
  std::string name_, host_, ns_;
  bool cut_ = false;
};

class SmallDisk {
 public:
  // Mounts a tmpfs of `bytes` on `dir` (created when missing).
  static Result<std::unique_ptr<SmallDisk>> Mount(std::string dir, size_t bytes);
  ~SmallDisk();  // unmounts (lazily, should a process still hold a file there)
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  const std::string& dir() const { return dir_; }
  // Writes `dir`/.filler until the disk refuses (ENOSPC); the bytes written.
  Result<size_t> Fill();
  // Deletes the filler.
  Result<void> Free();
  // Bytes still free (statvfs).
  size_t available() const;

 private:
  explicit SmallDisk(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

class FakeClock {
 public:
  // Keeps its offset file in `dir`; fails when libfaketime is not installed.
  static Result<std::unique_ptr<FakeClock>> Create(const std::string& dir);
  // Environment for a process whose wall clock this controls.
  std::vector<std::pair<std::string, std::string>> Env() const;
  // Sets the offset of CLOCK_REALTIME from the real time (the processes see it within a
  // second).
  Result<void> Jump(std::chrono::seconds offset);

 private:
  FakeClock(std::string file, std::string library)
      : file_(std::move(file)), library_(std::move(library)) {}
  std::string file_, library_;
};

Result<void> Signal(pid_t pid, int signal);

// Runs argv to completion (no shell); an error with its output when it fails.
Result<std::string> Run(const std::vector<std::string>& argv);

}  // namespace berth::chaos
