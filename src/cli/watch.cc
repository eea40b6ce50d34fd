#include "cli/watch.h"

#include <fmt/core.h>

#include <algorithm>
#include <iostream>

#include "cli/command.h"
#include "core/http/client.h"

namespace berth::cli {

ChangeFeed::ChangeFeed(std::string addr, std::string token, std::string ca_file, std::string path,
                       std::chrono::milliseconds poll_interval)
    : addr_(std::move(addr)),
      token_(std::move(token)),
      ca_file_(std::move(ca_file)),
      poll_interval_(poll_interval),
      path_(std::move(path)),
      polling_(path_.empty()) {
  if (!polling_) reader_ = std::thread([this] { Read(); });
}

ChangeFeed::~ChangeFeed() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    if (client_) client_->Shutdown();
  }
  cv_.notify_all();
  if (reader_.joinable()) reader_.join();
}

void ChangeFeed::Wait() {
  std::unique_lock lock(mu_);
  if (polling_) {
    cv_.wait_for(lock, poll_interval_, [&] { return stop_; });
    dirty_ = false;
    return;
  }
  cv_.wait(lock, [&] { return dirty_ || polling_ || stop_; });
  dirty_ = false;
}

void ChangeFeed::SetPath(std::string path) {
  std::lock_guard lock(mu_);
  path_ = std::move(path);
}

bool ChangeFeed::polling() const {
  std::lock_guard lock(mu_);
  return polling_;
}

bool ChangeFeed::TakeChanges(std::string& pending) {
  bool changed = false;
  size_t nl;
  while ((nl = pending.find('\n')) != std::string::npos) {
    auto line = ParseJson(std::string_view(pending).substr(0, nl));
    pending.erase(0, nl + 1);
    if (!line || !line->is_object()) continue;
    const std::string type = line->value("type", "");
    // Created and progress lines say nothing changed; anything else (an event, an error that
    // ends the stream) is worth a fresh look.
    if (type != "created" && type != "progress") changed = true;
  }
  return changed;
}

void ChangeFeed::Read() {
  while (true) {
    std::string path;
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      path = path_;
    }
    auto client = http::Client::Create(
        addr_, {.timeout = std::chrono::hours(24 * 365), .tls_ca_file = ca_file_});
    int status = 0;
    if (client) {
      {
        std::lock_guard lock(mu_);
        if (stop_) return;
        client_ = client->get();
      }
      http::Request req;
      req.method = "GET";
      req.target = path;
      if (!token_.empty()) req.headers.Set("Authorization", "Bearer " + token_);
      std::string pending;
      (*client)->Stream(
          req, [&](const http::Response& head) { status = head.status; },
          [&](std::string_view data) {
            if (status >= 400) return false;
            pending.append(data);
            if (TakeChanges(pending)) {
              std::lock_guard lock(mu_);
              dirty_ = true;
              cv_.notify_all();
            }
            return true;
          });
      std::lock_guard lock(mu_);
      client_ = nullptr;
    }
    std::unique_lock lock(mu_);
    if (stop_) return;
    if (status >= 400) {
      // Refused (a role the stream needs, a compacted start): poll instead.
      polling_ = true;
      cv_.notify_all();
      return;
    }
    // The stream ended: what happened meanwhile is unknown, so look again, then reconnect.
    dirty_ = true;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; });
  }
}

WatchPrinter::WatchPrinter(const Context& ctx, const View& view, std::ostream& out)
    : ctx_(ctx), view_(view), out_(out), format_(ctx.format()) {}

std::string WatchPrinter::Key(const Json& item) const {
  return item.value("namespace", "") + " " + view_.NameOf(item);
}

void WatchPrinter::First(const Json& items) {
  if (format_ == Format::kTable || format_ == Format::kWide) {
    std::vector<std::string> headers = view_.Headers(format_);
    headers.insert(headers.begin(), "EVENT");
    widths_.assign(headers.size(), 0);
    for (size_t i = 0; i < headers.size(); ++i) widths_[i] = std::max<size_t>(headers[i].size(), 8);
    for (const auto& item : items) {
      auto row = view_.Row(item, format_);
      for (size_t i = 0; i < row.size() && i + 1 < widths_.size(); ++i) {
        widths_[i + 1] = std::max(widths_[i + 1], row[i].size());
      }
    }
    Print(nullptr, Json(), headers);
  }
  Next(items);
}

void WatchPrinter::Next(const Json& items) {
  std::map<std::string, Seen> now;
  for (const auto& item : items) {
    Seen s{view_.Row(item, format_), item};
    const std::string key = Key(item);
    auto it = seen_.find(key);
    if (it == seen_.end()) {
      Print("ADDED", item, s.row);
    } else {
      const bool changed = (format_ == Format::kJson || format_ == Format::kYaml)
                               ? it->second.object != item
                               : it->second.row != s.row;
      if (changed) Print("MODIFIED", item, s.row);
    }
    now[key] = std::move(s);
  }
  for (const auto& [key, s] : seen_) {
    if (!now.contains(key)) Print("DELETED", s.object, s.row);
  }
  seen_ = std::move(now);
  out_.flush();
}

void WatchPrinter::Print(const char* event, const Json& object,
                         const std::vector<std::string>& row) {
  switch (format_) {
    case Format::kJson:
      out_ << Json{{"type", event}, {"object", object}}.dump(-1, ' ', false,
                                                             Json::error_handler_t::replace)
           << "\n";
      return;
    case Format::kYaml:
      out_ << "---\n" << ToYaml(Json{{"type", event}, {"object", object}}) << "\n";
      return;
    case Format::kName:
      out_ << view_.NameOf(object) << "\n";
      return;
    default:
      break;
  }
  std::vector<std::string> cells = row;
  if (event) cells.insert(cells.begin(), event);
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i >= widths_.size()) widths_.push_back(0);
    widths_[i] = std::max(widths_[i], cells[i].size());
    line += cells[i];
    if (i + 1 < cells.size()) line += std::string(widths_[i] - cells[i].size() + 3, ' ');
  }
  out_ << line << "\n";
}

int RunWatch(Context& ctx, const ListSpec& spec) {
  auto doc = spec.fetch(ctx);
  if (!doc) return PrintError(doc.error());
  WatchPrinter printer(ctx, spec.view, std::cout);
  printer.First(spec.items(*doc));
  ChangeFeed feed(ctx.addr, ctx.token, ctx.ca_file,
                  spec.watch_path ? spec.watch_path(ctx, *doc) : "", kPollInterval);
  while (true) {
    feed.Wait();
    doc = spec.fetch(ctx);
    if (!doc) return PrintError(doc.error());
    if (spec.watch_path) feed.SetPath(spec.watch_path(ctx, *doc));
    printer.Next(spec.items(*doc));
  }
}

}  // namespace berth::cli
