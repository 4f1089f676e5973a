// The gateway's HTTP listener (--http-listen) on cpp-httplib, plaintext or HTTPS (the
// gateway's --tls-cert/--tls-key): a pool of threads, one per connection being served (an open
// stream holds its thread), request bodies read whole up to a limit, JSON replies and chunked
// event streams. What a request means is up to the handler (openai_api.h).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace rwkv::gateway {

// One request and its reply, valid during the handler call.
class HttpExchange {
 public:
  HttpExchange(const httplib::Request& request, httplib::Response& response);

  const std::string& method() const;
  const std::string& path() const;
  // The header's value, "" when absent.
  std::string Header(const char* name) const;
  // The whole body (the server refuses bodies over HttpServerOptions::max_body_bytes).
  const std::string& body() const;

  // A complete reply with Content-Length.
  void Reply(int status, std::string_view content_type, std::string_view body);

  // Writes one chunk of a streamed reply; false once the client is gone.
  using ChunkWriter = std::function<bool(std::string_view data)>;
  // A 200 reply of `content_type` sent in chunks: once the handler has returned, `producer`
  // runs on the same thread and writes the body with the ChunkWriter it gets; the body ends
  // when it returns. When the client is gone before the headers are out, `producer` is
  // destroyed without running.
  void StreamReply(std::string_view content_type,
                   std::function<void(const ChunkWriter& write)> producer);

  // The HTTP status set so far, 0 before any.
  int status() const;

 private:
  const httplib::Request& request_;
  httplib::Response& response_;
};

struct HttpServerOptions {
  // "host:port"; port 0 picks a free port.
  std::string listen;
  // Connections served at once (each open stream holds one); more wait for a free thread.
  int threads = 128;
  // Larger request bodies are refused with 413 before the handler runs.
  size_t max_body_bytes = 16 << 20;
  // PEM certificate chain and private key: HTTPS when set (both or neither).
  std::string tls_cert;
  std::string tls_key;
};

class HttpServer {
 public:
  using Handler = std::function<void(HttpExchange&)>;

  // Listens and serves every request with `handler`. Requests the server refuses by itself
  // (malformed, body over the limit, unsupported method) get their status set and go to
  // `refused`, which writes the reply body. Both are called on the server's threads, must be
  // thread-safe and outlive the server. UNAVAILABLE naming the address when it cannot
  // listen, INVALID_ARGUMENT when it is not host:port or when the certificate or key cannot
  // be used (naming the file).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           Handler handler, Handler refused);
  // Stops listening and waits for the requests being served to return.
  ~HttpServer();

  int port() const { return port_; }
  bool tls() const { return tls_; }

 private:
  HttpServer() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  std::atomic<bool> listener_done_{false};
  int port_ = 0;
  bool tls_ = false;
};

}  // namespace rwkv::gateway
