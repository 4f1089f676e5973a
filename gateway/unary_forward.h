// Forwards one unary call to a backend on the callback API: the backend call gets the
// client's deadline, its response is written straight into the server's response, and its
// status is returned as is. Never blocks.
#pragma once

#include <memory>
#include <utility>

#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"

namespace rwkv::gateway {

// `invoke(stub.async(), client_context, request, response, done)` starts the backend call,
// e.g. [](auto* a, auto* c, auto* q, auto* r, auto d) { a->Tokenize(c, q, r, std::move(d)); }.
template <typename Service, typename Request, typename Response, typename Invoke>
grpc::ServerUnaryReactor* ForwardUnary(grpc::CallbackServerContext* context,
                                       std::shared_ptr<grpc::Channel> channel,
                                       const Request* request, Response* response, Invoke invoke) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::shared_ptr<typename Service::Stub> stub = Service::NewStub(std::move(channel));
  auto client = std::make_shared<grpc::ClientContext>();
  client->set_deadline(context->deadline());
  grpc::ClientContext* raw = client.get();
  invoke(stub->async(), raw, request, response,
         [reactor, stub, client](grpc::Status status) { reactor->Finish(status); });
  return reactor;
}

// A unary reactor that finishes at once with `status`.
inline grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                             const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

}  // namespace rwkv::gateway
