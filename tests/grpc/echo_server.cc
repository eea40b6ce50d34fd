// A gRPC server for the gateway's tests and benchmark (Debian's libgrpc++): the Echo service
// of echo.proto and the standard grpc.health.v1 service, on 127.0.0.1.
//   grpc_echo_server --port N --name NAME [--unhealthy-file PATH] [--fail-code N] [--threads N]
// While PATH exists the health service answers NOT_SERVING (checked every 50 ms).
// --fail-code N: every Unary call fails with status N (an instance that is unavailable).
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <sys/stat.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "echo.grpc.pb.h"

namespace {

using berth::test::Echo;
using berth::test::EchoReply;
using berth::test::EchoRequest;
using grpc::ServerContext;
using grpc::Status;

std::string g_name = "echo";
int g_fail_code = 0;

void Delay(const EchoRequest& r) {
  if (r.delay_ms() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(r.delay_ms()));
}

Status Failure(const EchoRequest& r) {
  return Status(static_cast<grpc::StatusCode>(r.fail_code()), r.fail_message());
}

class EchoService final : public Echo::Service {
  Status Unary(ServerContext*, const EchoRequest* req, EchoReply* reply) override {
    if (g_fail_code != 0) {
      return Status(static_cast<grpc::StatusCode>(g_fail_code), "instance " + g_name + " fails");
    }
    Delay(*req);
    if (req->fail_code() != 0) return Failure(*req);
    reply->set_message(req->message());
    reply->set_server(g_name);
    return Status::OK;
  }
  Status ServerStream(ServerContext* ctx, const EchoRequest* req,
                      grpc::ServerWriter<EchoReply>* writer) override {
    for (int i = 0; i < req->count() && !ctx->IsCancelled(); ++i) {
      Delay(*req);
      EchoReply reply;
      reply.set_message(req->message());
      reply.set_server(g_name);
      reply.set_index(i);
      if (!writer->Write(reply)) break;
    }
    if (req->fail_code() != 0) return Failure(*req);
    return Status::OK;
  }
  Status ClientStream(ServerContext*, grpc::ServerReader<EchoRequest>* reader,
                      EchoReply* reply) override {
    EchoRequest req;
    std::string all;
    int n = 0;
    while (reader->Read(&req)) {
      all += req.message();
      ++n;
    }
    reply->set_message(all);
    reply->set_server(g_name);
    reply->set_index(n);
    return Status::OK;
  }
  Status Bidi(ServerContext*, grpc::ServerReaderWriter<EchoReply, EchoRequest>* stream) override {
    EchoRequest req;
    int i = 0;
    while (stream->Read(&req)) {
      if (req.fail_code() != 0) return Failure(req);
      EchoReply reply;
      reply.set_message(req.message());
      reply.set_server(g_name);
      reply.set_index(i++);
      if (!stream->Write(reply)) break;
    }
    return Status::OK;
  }
};

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int threads = 0;
  std::string unhealthy_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port") {
      port = std::atoi(argv[i + 1]);
    } else if (a == "--name") {
      g_name = argv[i + 1];
    } else if (a == "--unhealthy-file") {
      unhealthy_file = argv[i + 1];
    } else if (a == "--fail-code") {
      g_fail_code = std::atoi(argv[i + 1]);
    } else if (a == "--threads") {
      threads = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  grpc::EnableDefaultHealthCheckService(true);
  EchoService service;
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                           &bound);
  builder.RegisterService(&service);
  if (threads > 0) {
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, threads);
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, threads);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "grpc_echo_server: cannot listen on port %d\n", port);
    return 1;
  }
  std::printf("listening 127.0.0.1:%d\n", bound);
  std::fflush(stdout);
  auto* health = server->GetHealthCheckService();
  bool serving = true;
  for (;;) {
    struct stat st;
    const bool want = unhealthy_file.empty() || ::stat(unhealthy_file.c_str(), &st) != 0;
    if (want != serving || health != nullptr) {
      serving = want;
      if (health != nullptr) {
        health->SetServingStatus(serving);
        health->SetServingStatus("berth.test.Echo", serving);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}
