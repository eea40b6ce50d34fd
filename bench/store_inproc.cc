// bench/store_inproc: the sqlite Store back-end measured in-process (no HTTP): durable
// writes/s with concurrent writers (group commit) and point reads/s, each beside its peer from
// the same run — plain SQLite on the same disk with the same durability (one transaction and
// one fsync per write; one connection doing prepared point selects) — and the ratio.
//
//   build/release/bench/bench_store_inproc [--seconds 3] [--writers 32] [--readers 2]
//                                           [--dir /path/on/the/disk/to/measure]
//                                           [--compaction yes|no|only]
//
// The compaction phase (Compaction below) measures how long writes wait while a large
// history is compacted, in one step and in bounded steps.
//
// Output: `name value unit` lines.
#include <fmt/core.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using berth::store::Store;

struct Config {
  double seconds = 3;
  int writers = 32;
  int readers = 2;
  int keys = 10000;
  std::string dir;
  bool compaction = true;  // --compaction no: skip the compaction phase; only: just it
  bool only_compaction = false;
  std::vector<size_t> compact_steps = {0, 1024, 256};  // --compact-steps 0,1024,...
};

void Line(const std::string& name, double value, const std::string& unit) {
  fmt::print("{} {:.1f} {}\n", name, value, unit);
  std::fflush(stdout);
}

// Runs `threads` threads calling op(thread, i) until `seconds` pass; returns ops/s.
double Drive(int threads, double seconds, const std::function<bool(int, int64_t)>& op,
             int64_t* errors) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> done{0}, failed{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      int64_t local = 0, bad = 0;
      for (int64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        if (op(t, i)) {
          ++local;
        } else {
          ++bad;
        }
      }
      done += local;
      failed += bad;
    });
  }
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : pool) t.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (errors != nullptr) *errors = failed.load();
  return done.load() / elapsed;
}

std::unique_ptr<Store> Open(const std::string& path, berth::Clock& clock) {
  auto store = berth::store::OpenSqliteStore(path, {}, clock);
  if (!store) {
    fmt::print(stderr, "open {}: {}\n", path, store.error().message);
    std::exit(1);
  }
  return std::move(*store);
}

// Plain SQLite, one durable transaction per write: what a store without group commit pays.
double PeerWrites(const std::string& path, double seconds, const std::string& value) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
               "CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID;",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO kv VALUES (?1, ?2)", -1, &stmt, nullptr);
  int64_t n = 0;
  auto start = std::chrono::steady_clock::now();
  auto until = start + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    std::string key = fmt::format("/bench/peer/{}", n % 1000);
    sqlite3_bind_blob(stmt, 1, key.data(), int(key.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(stmt, 2, value.data(), int(value.size()), SQLITE_STATIC);
    if (sqlite3_step(stmt) == SQLITE_DONE) ++n;
    sqlite3_reset(stmt);
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return n / elapsed;
}

// Plain SQLite point selects on one connection over `keys` rows.
double PeerReads(const std::string& path, double seconds, int keys, const std::string& value) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA mmap_size=268435456;"
               "CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID;"
               "BEGIN;",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO kv VALUES (?1, ?2)", -1, &insert, nullptr);
  for (int i = 0; i < keys; ++i) {
    std::string key = fmt::format("/bench/read/{}", i);
    sqlite3_bind_blob(insert, 1, key.data(), int(key.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(insert, 2, value.data(), int(value.size()), SQLITE_STATIC);
    sqlite3_step(insert);
    sqlite3_reset(insert);
  }
  sqlite3_finalize(insert);
  sqlite3_exec(db, "COMMIT;", nullptr, nullptr, nullptr);
  sqlite3_stmt* select = nullptr;
  sqlite3_prepare_v2(db, "SELECT value FROM kv WHERE key = ?1", -1, &select, nullptr);
  int64_t n = 0;
  auto start = std::chrono::steady_clock::now();
  auto until = start + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    for (int j = 0; j < 256; ++j, ++n) {
      std::string key = fmt::format("/bench/read/{}", (n * 7919) % keys);
      sqlite3_bind_blob(select, 1, key.data(), int(key.size()), SQLITE_TRANSIENT);
      if (sqlite3_step(select) == SQLITE_ROW) (void)sqlite3_column_blob(select, 0);
      sqlite3_reset(select);
    }
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  sqlite3_finalize(select);
  sqlite3_close(db);
  return n / elapsed;
}

}  // namespace

// The writer stall of a compaction: a history of `hot` keys x `versions` superseded rows
// beside `live` keys written once (registrations), compacted to its last revision while
// `writers` threads keep writing; the figures are the compaction's time and the writes'
// worst and p99 latency during it, for Compact in one step and in bounded steps, beside
// the writes' latency without a compaction and the previous one-statement SQL (plain
// SQLite on a copy of the same file).
void Compaction(const std::string& base, const Config& cfg, berth::Clock& clock) {
  constexpr int kHot = 1000, kVersions = 200, kLive = 10000, kWriters = 8;
  const std::string value(100, 'v');
  const std::string filled = base + "/compact-filled.db";
  int64_t top = 0;
  {
    auto opened = berth::store::OpenSqliteStore(filled, {.durable = false}, clock);
    if (!opened) std::exit(1);
    auto& store = **opened;
    std::vector<std::thread> fill;
    for (int t = 0; t < 16; ++t) {
      fill.emplace_back([&, t] {
        for (int i = t; i < kLive; i += 16)
          (void)store.Put(fmt::format("/bench/live/{}", i), value);
        for (int i = t; i < kHot * kVersions; i += 16) {
          (void)store.Put(fmt::format("/bench/hot/{}", i % kHot), value);
        }
      });
    }
    for (auto& t : fill) t.join();
    top = store.CurrentRevision().value_or(0);
  }
  fmt::print(
      "# compaction: {} superseded rows ({} keys x {} versions) beside {} live keys, "
      "compacted to revision {} while {} writers put new keys\n",
      kHot * (kVersions - 1), kHot, kVersions, kLive, top, kWriters);
  auto copy = [&](const std::string& name) {
    std::string path = base + "/" + name;
    std::filesystem::copy_file(filled, path, std::filesystem::copy_options::overwrite_existing);
    return path;
  };
  // Latencies (ms) of the writes that overlap `during` (started before it ends and ended
  // after it starts); returns {max, p99}.
  auto writes_during = [&](berth::store::Store& store, const std::function<void()>& during) {
    using Clock = std::chrono::steady_clock;
    std::atomic<bool> stop{false};
    std::vector<std::vector<std::pair<Clock::time_point, Clock::time_point>>> spans(kWriters);
    std::vector<std::thread> pool;
    for (int t = 0; t < kWriters; ++t) {
      pool.emplace_back([&, t] {
        for (int64_t i = 0; !stop.load(); ++i) {
          auto start = Clock::now();
          (void)store.Put(fmt::format("/bench/new/{}/{}", t, i), value);
          spans[t].emplace_back(start, Clock::now());
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // writers running
    const auto from = Clock::now();
    during();
    const auto to = Clock::now();
    stop = true;
    for (auto& t : pool) t.join();
    std::vector<double> all;
    for (const auto& s : spans) {
      for (const auto& [start, end] : s) {
        if (start <= to && end >= from) {
          all.push_back(std::chrono::duration<double, std::milli>(end - start).count());
        }
      }
    }
    std::sort(all.begin(), all.end());
    if (all.empty()) return std::pair<double, double>{0, 0};
    return std::pair<double, double>{all.back(), all[all.size() * 99 / 100]};
  };
  for (size_t step : cfg.compact_steps) {
    const std::string label = step == 0 ? "one_step" : fmt::format("steps_of_{}_rows", step);
    auto opened = berth::store::OpenSqliteStore(copy("compact-" + label + ".db"),
                                                {.compact_step_rows = step}, clock);
    if (!opened) std::exit(1);
    auto& store = **opened;
    if (step == 0) {
      auto [max, p99] =
          writes_during(store, [] { std::this_thread::sleep_for(std::chrono::milliseconds(500)); });
      Line("sqlite_store_writes_without_compaction_max_latency", max, "ms");
      Line("sqlite_store_writes_without_compaction_p99_latency", p99, "ms");
    }
    double took = 0;
    auto [max, p99] = writes_during(store, [&] {
      auto start = std::chrono::steady_clock::now();
      auto r = store.Compact(top);
      took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                 .count();
      if (!r) fmt::print("# compact: {}\n", r.error().message);
    });
    auto* sqlite = dynamic_cast<berth::store::SqliteStore*>(&store);
    Line(fmt::format("sqlite_store_compaction_{}_total", label), took, "ms");
    Line(fmt::format("sqlite_store_compaction_{}_steps", label),
         static_cast<double>(sqlite->stats().compact_steps), "steps");
    Line(fmt::format("sqlite_store_compaction_{}_longest_step_statements", label),
         static_cast<double>(sqlite->stats().compact_longest_step_us) / 1000.0, "ms");
    Line(fmt::format("sqlite_store_compaction_{}_mean_step_statements", label),
         static_cast<double>(sqlite->stats().compact_step_us) / 1000.0 /
             static_cast<double>(std::max<int64_t>(1, sqlite->stats().compact_steps)),
         "ms");
    Line(fmt::format("sqlite_store_writes_during_compaction_{}_max_latency", label), max, "ms");
    Line(fmt::format("sqlite_store_writes_during_compaction_{}_p99_latency", label), p99, "ms");
  }
  // The previous SQL (one statement over every row below the revision), on plain SQLite.
  {
    sqlite3* db = nullptr;
    sqlite3_open(copy("compact-peer.db").c_str(), &db);
    auto start = std::chrono::steady_clock::now();
    std::string sql = fmt::format(
        "BEGIN; DELETE FROM kv WHERE mod_revision < {0} AND EXISTS (SELECT 1 FROM kv n WHERE "
        "n.key = kv.key AND n.mod_revision > kv.mod_revision AND n.mod_revision <= {0}); "
        "DELETE FROM kv WHERE mod_revision < {0} AND version = 0; COMMIT;",
        top);
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      fmt::print("# previous compaction SQL: {}\n", err ? err : "?");
      sqlite3_free(err);
    }
    Line(
        "previous_one_statement_compaction_total",
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count(),
        "ms");
    sqlite3_close(db);
  }
}

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) cfg.seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--writers")) cfg.writers = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--readers")) cfg.readers = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--dir")) cfg.dir = argv[i + 1];
    if (!std::strcmp(argv[i], "--compact-steps")) {
      cfg.compact_steps.clear();
      for (const char* p = argv[i + 1]; *p != '\0';) {
        char* end = nullptr;
        cfg.compact_steps.push_back(std::strtoull(p, &end, 10));
        p = *end == ',' ? end + 1 : end;
        if (end == p && *p != '\0') break;
      }
    }
    if (!std::strcmp(argv[i], "--compaction")) {
      cfg.compaction = std::strcmp(argv[i + 1], "no") != 0;
      cfg.only_compaction = !std::strcmp(argv[i + 1], "only");
    }
  }
  berth::log::Configure(berth::log::Level::kWarn, false);
  std::string base = cfg.dir;
  if (base.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "berth-bench-XXXXXX").string();
    base = ::mkdtemp(tmpl.data());
  }
  const std::string value(100, 'v');
  berth::SystemClock clock;
  fmt::print(
      "# bench/store_inproc: sqlite back-end in-process, dir {}, {} s per phase, "
      "100-byte values, durable (synchronous=FULL)\n",
      base, cfg.seconds);

  if (cfg.only_compaction) {
    Compaction(base, cfg, clock);
    if (cfg.dir.empty()) std::filesystem::remove_all(base);
    return 0;
  }

  // Writes: 1 writer, then many; the peer is plain SQLite with one fsync per write.
  {
    auto store = Open(base + "/writes.db", clock);
    auto* sqlite = dynamic_cast<berth::store::SqliteStore*>(store.get());
    auto put = [&](int t, int64_t i) {
      return store->Put(fmt::format("/bench/w/{}/{}", t, i % 1000), value).has_value();
    };
    int64_t errors = 0;
    double one = Drive(1, cfg.seconds, put, &errors);
    Line("sqlite_store_writes_1_writer", one, "ops/s");
    auto before = sqlite->stats();
    double many = Drive(cfg.writers, cfg.seconds, put, &errors);
    auto after = sqlite->stats();
    Line(fmt::format("sqlite_store_writes_{}_writers", cfg.writers), many, "ops/s");
    double per_commit = double(after.writes - before.writes) /
                        double(std::max<int64_t>(1, after.batches - before.batches));
    Line("sqlite_store_writes_per_fsync", per_commit, "writes/commit");
    double peer = PeerWrites(base + "/peer-writes.db", cfg.seconds, value);
    Line("peer_plain_sqlite_durable_writes_1_conn", peer, "ops/s");
    Line("ratio_store_many_writers_vs_peer", many / peer, "x");
    if (errors != 0) fmt::print("# write errors: {}\n", errors);
  }

  // Reads: point Gets at the latest revision over 10k keys with a few versions each.
  {
    auto store = Open(base + "/reads.db", clock);
    for (int round = 0; round < 2; ++round) {
      std::vector<std::thread> fill;
      for (int t = 0; t < 8; ++t) {
        fill.emplace_back([&, t] {
          for (int i = t; i < cfg.keys; i += 8) {
            (void)store->Put(fmt::format("/bench/read/{}", i), value);
          }
        });
      }
      for (auto& t : fill) t.join();
    }
    auto get = [&](int t, int64_t i) {
      auto got = store->Get(fmt::format("/bench/read/{}", (i * 7919 + t) % cfg.keys));
      return got.has_value() && got->kvs.size() == 1;
    };
    int64_t errors = 0;
    double one = Drive(1, cfg.seconds, get, &errors);
    Line("sqlite_store_point_reads_1_reader", one, "ops/s");
    double many = Drive(cfg.readers, cfg.seconds, get, &errors);
    Line(fmt::format("sqlite_store_point_reads_{}_readers", cfg.readers), many, "ops/s");
    auto range = [&](int t, int64_t i) {
      berth::store::RangeOptions options;
      options.prefix = true;
      options.limit = 100;
      auto got = store->Get(fmt::format("/bench/read/{}", (i + t) % 10), options);
      return got.has_value();
    };
    double ranges = Drive(1, cfg.seconds, range, &errors);
    Line("sqlite_store_prefix_range_reads_limit100_1_reader", ranges, "ops/s");
    // Writes while readers hammer the same store: the writer must not starve.
    auto mixed_phase = [&](const std::string& label) {
      std::atomic<bool> stop{false};
      std::vector<std::thread> readers;
      std::atomic<int64_t> reads{0};
      for (int t = 0; t < cfg.readers; ++t) {
        readers.emplace_back([&, t] {
          for (int64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) reads += get(t, i);
        });
      }
      auto put = [&](int t, int64_t i) {
        return store->Put(fmt::format("/bench/read/{}", (i * 31 + t) % cfg.keys), value)
            .has_value();
      };
      double mixed = Drive(cfg.writers, cfg.seconds, put, &errors);
      stop = true;
      for (auto& t : readers) t.join();
      Line(fmt::format("sqlite_store{}_writes_{}_writers_beside_{}_readers", label, cfg.writers,
                       cfg.readers),
           mixed, "ops/s");
      Line(fmt::format("sqlite_store{}_reads_beside_writers", label), reads.load() / cfg.seconds,
           "ops/s");
    };
    mixed_phase("");
    store.reset();
    berth::store::SqliteOptions no_cache;
    no_cache.cache_current = false;
    auto uncached = berth::store::OpenSqliteStore(base + "/reads.db", no_cache, clock);
    if (uncached) {
      store = std::move(*uncached);
      double sql_one = Drive(1, cfg.seconds, get, &errors);
      Line("sqlite_store_point_reads_sqlite_path_1_reader", sql_one, "ops/s");
      double sql_many = Drive(cfg.readers, cfg.seconds, get, &errors);
      Line(fmt::format("sqlite_store_point_reads_sqlite_path_{}_readers", cfg.readers), sql_many,
           "ops/s");
      mixed_phase("_sqlite_path");
    }
    double peer = PeerReads(base + "/peer-reads.db", cfg.seconds, cfg.keys, value);
    Line("peer_plain_sqlite_point_reads_1_conn", peer, "ops/s");
    Line("ratio_store_1_reader_vs_peer", one / peer, "x");
    if (errors != 0) fmt::print("# read errors: {}\n", errors);
  }
  if (cfg.compaction) Compaction(base, cfg, clock);
  if (cfg.dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(base, ec);
  }
  return 0;
}
