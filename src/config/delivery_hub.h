// DeliveryHub: pushes config changes to consumers (programs on the watch API, agents). One
// store watch on the item heads (/config/items/) fans out to every subscription of the item
// that changed; a subscription is many items on one handler (a multiplexed stream), each
// resuming from a revision: the change log (/config/log/, the newest 100 changes per item)
// replays what it missed, in order, before live changes follow.
//
// What a consumer gets is per consumer: the version its instance should run (the gray one
// inside the gray set, the released one otherwise). A change is delivered when that version
// changes, so A→B→A (three publishes, three version numbers) is three deliveries, and a gray
// release outside the consumer's set is none. A deleted item is delivered as `deleted`.
//
// Ordering: the hub's mutex is held while a subscription replays the log and registers, and
// while a store response is dispatched; each subscription remembers the revision it has
// seen, so every change is delivered once, in order. Handlers run under that mutex (on the
// store's watch thread, or on the subscribing thread for the replay): they must only queue.
// Thread-safety: all methods from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config_center.h"
#include "store/store.h"

namespace berth::config {

// One change as one consumer gets it.
struct Delivery {
  size_t watch = 0;  // the index of the watch in the subscription
  std::string ns;
  std::string name;
  int64_t revision = 0;  // the change's store revision (resume from revision + 1)
  int64_t seq = 0;
  int64_t version = 0;  // the version this consumer should run
  bool gray = false;    // it is the item's gray version
  bool deleted = false;
  bool resync = false;  // changes before this one were pruned from the log: this is the state
};

struct DeliveryWatch {
  std::string ns;
  std::string name;
  int64_t from_revision = 0;  // 0: the current version first, then changes
};

struct Consumer {
  std::string instance;  // for gray selection by instance id or percentage
  Labels labels;         // for gray selection by labels
};

using DeliveryHandler = std::function<void(std::vector<Delivery>&& batch)>;

class DeliverySubscription {
 public:
  virtual ~DeliverySubscription() = default;
};

struct DeliveryStats {
  std::atomic<int64_t> subscriptions{0};
  std::atomic<int64_t> watches{0};
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> changes{0};
};

class DeliveryHub {
 public:
  DeliveryHub(store::Store& store, ConfigCenter& center);
  ~DeliveryHub();
  DeliveryHub(const DeliveryHub&) = delete;
  DeliveryHub& operator=(const DeliveryHub&) = delete;

  // Starts the store watch (once; later calls do nothing).
  Result<void> Start();
  // Subscribes `watches` for `consumer`: the replay batch is handed to `handler` before this
  // returns (an unknown item answers kNotFound and nothing starts). Destroying the result
  // stops deliveries; after that no handler call is running or will run.
  Result<std::unique_ptr<DeliverySubscription>> Subscribe(std::vector<DeliveryWatch> watches,
                                                          Consumer consumer,
                                                          DeliveryHandler handler);
  // A version with its bytes, shared (a 1 MiB config pushed to 1,000 consumers is read once).
  Result<std::shared_ptr<const VersionContent>> Content(std::string_view ns, std::string_view name,
                                                        int64_t version);
  const DeliveryStats& stats() const { return stats_; }

  struct Group;

 private:
  struct Entry {
    Group* group = nullptr;
    size_t watch = 0;
    int64_t seen = 0;     // the last revision dispatched to it
    int64_t version = 0;  // the last version delivered (0: none yet)
  };
  void OnStore(store::WatchResponse&& response);
  void Remove(Group* group);
  using ReplayCache = std::map<std::string, LogReplay>;
  Result<void> Replay(Group& group, size_t index, const DeliveryWatch& w,
                      std::vector<Delivery>& out, ReplayCache& cache);

  store::Store& store_;
  ConfigCenter& center_;
  std::mutex mu_;
  std::map<std::string, std::list<Entry>> by_item_;  // guarded by mu_; "ns/name"
  std::unique_ptr<store::Watcher> watcher_;          // guarded by mu_
  int64_t last_revision_ = 0;                        // guarded by mu_
  std::mutex content_mu_;
  // guarded by content_mu_: the last versions read, newest first.
  std::list<std::pair<std::string, std::shared_ptr<const VersionContent>>> content_;
  DeliveryStats stats_;
  friend class HubSubscription;
};

}  // namespace berth::config
