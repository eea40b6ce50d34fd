#include "common/etcd_grpc_load.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <chrono>
#include <memory>
#include <vector>

#include "store/etcd/proto/rpc.grpc.pb.h"

namespace berth::bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace pb = ::etcdserverpb;

// One client's call in flight; its address is the completion tag.
struct Slot {
  int client = 0;
  int64_t next = 0;
  std::unique_ptr<grpc::ClientContext> context;
  pb::PutRequest put;
  pb::PutResponse put_response;
  pb::TxnRequest txn;
  pb::TxnResponse txn_response;
  pb::RangeRequest range;
  pb::RangeResponse range_response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<pb::PutResponse>> put_reader;
  std::unique_ptr<grpc::ClientAsyncResponseReader<pb::RangeResponse>> range_reader;
  std::unique_ptr<grpc::ClientAsyncResponseReader<pb::TxnResponse>> txn_reader;
};

}  // namespace

double DriveEtcdGrpc(const std::string& hostport, const Load& load, int connections, EtcdOp op,
                     const MakeKey& key, const std::string& value, DriveStats* stats) {
  std::vector<std::unique_ptr<pb::KV::Stub>> stubs;
  for (int i = 0; i < std::max(1, connections); ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("berth.bench.channel", i);
    stubs.push_back(pb::KV::NewStub(
        grpc::CreateCustomChannel(hostport, grpc::InsecureChannelCredentials(), args)));
  }
  grpc::CompletionQueue cq;
  std::vector<Slot> slots(static_cast<size_t>(load.clients));
  auto issue = [&](Slot& s) {
    s.context = std::make_unique<grpc::ClientContext>();
    s.context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto& stub = *stubs[static_cast<size_t>(s.client) % stubs.size()];
    std::string k = key(s.client, s.next);
    if (op == EtcdOp::kPut) {
      s.put.set_key(std::move(k));
      s.put.set_value(value);
      s.put_reader = stub.AsyncPut(s.context.get(), s.put, &cq);
      s.put_reader->Finish(&s.put_response, &s.status, &s);
    } else if (op == EtcdOp::kTxnPut) {
      s.txn.Clear();
      auto* put = s.txn.add_success()->mutable_request_put();
      put->set_key(std::move(k));
      put->set_value(value);
      s.txn_reader = stub.AsyncTxn(s.context.get(), s.txn, &cq);
      s.txn_reader->Finish(&s.txn_response, &s.status, &s);
    } else {
      s.range.set_key(std::move(k));
      s.range_reader = stub.AsyncRange(s.context.get(), s.range, &cq);
      s.range_reader->Finish(&s.range_response, &s.status, &s);
    }
  };
  DriveStats st;
  const double cpu0 = SelfCpuSeconds();
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(load.seconds));
  for (size_t i = 0; i < slots.size(); ++i) {
    slots[i].client = static_cast<int>(i);
    issue(slots[i]);
  }
  size_t in_flight = slots.size();
  void* tag = nullptr;
  bool ok = false;
  while (in_flight > 0 && cq.Next(&tag, &ok)) {
    auto& s = *static_cast<Slot*>(tag);
    --in_flight;
    bool counted = Clock::now() < end;
    if (counted) {
      if (ok && s.status.ok()) {
        ++st.ops;
      } else {
        ++st.errors;
      }
    }
    ++s.next;
    if (counted) {
      issue(s);
      ++in_flight;
    }
  }
  st.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  st.seconds = std::min(st.seconds, load.seconds);
  st.cpu_seconds = SelfCpuSeconds() - cpu0;
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (stats != nullptr) *stats = st;
  return st.seconds > 0 ? static_cast<double>(st.ops) / st.seconds : 0;
}

}  // namespace berth::bench
