// The gateway's HTTP listener (--http-listen) on civetweb: one civetweb thread per request (a
// streaming response holds its thread), request bodies read whole up to a limit, JSON replies
// and chunked event streams. What a request means is up to the handler (openai_api.h).
// Plaintext only: Debian's civetweb 1.15 looks up SSL_get_peer_certificate, which OpenSSL 3
// no longer exports, and crashes on the first HTTPS request; TLS is terminated in front.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

struct mg_connection;
struct mg_context;

namespace rwkv::gateway {

// One request and its reply, valid during the handler call.
class HttpExchange {
 public:
  explicit HttpExchange(mg_connection* connection);

  const std::string& method() const { return method_; }
  const std::string& path() const { return path_; }
  // The header's value, "" when absent.
  std::string Header(const char* name) const;
  // The whole body; RESOURCE_EXHAUSTED beyond `limit` bytes, UNAVAILABLE when the client
  // stops sending.
  absl::StatusOr<std::string> ReadBody(size_t limit);

  // A complete reply with Content-Length.
  void Reply(int status, std::string_view content_type, std::string_view body);
  // Starts a 200 text/event-stream reply (chunked); then SendChunk, then EndChunks. Each
  // returns false once the client is gone.
  bool StartEventStream();
  bool SendChunk(std::string_view data);
  void EndChunks();
  // The HTTP status sent, 0 before any.
  int status() const { return status_; }

 private:
  mg_connection* const connection_;
  std::string method_;
  std::string path_;
  int status_ = 0;
};

struct HttpServerOptions {
  // "host:port"; port 0 picks a free port.
  std::string listen;
  // Requests served at once (each open stream holds one).
  int threads = 128;
};

class HttpServer {
 public:
  using Handler = std::function<void(HttpExchange&)>;

  // Listens and serves every request with `handler` (called on civetweb's threads, must be
  // thread-safe and outlive the server). UNAVAILABLE naming the address when it cannot
  // listen, INVALID_ARGUMENT when it is not host:port.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           Handler handler);
  // Stops listening and waits for the requests being served to return.
  ~HttpServer();

  int port() const { return port_; }

  // What civetweb's callbacks get as user data.
  struct Shared;

 private:
  HttpServer() = default;

  std::unique_ptr<Shared> shared_;
  mg_context* context_ = nullptr;
  int port_ = 0;
};

}  // namespace rwkv::gateway
