#include "gateway/http_server.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace rwkv::gateway {

namespace {

// Idle keep-alive connections wait this long for the next request (holding a thread), and a
// connection serves at most this many requests.
constexpr time_t kKeepAliveSeconds = 5;
constexpr size_t kKeepAliveRequests = 1000;
// A client that sends nothing for this long in the middle of a request, or accepts no write for
// this long, is dropped (the first bounds how long stopping waits for a stalled request).
constexpr time_t kReadTimeoutSeconds = 10;
constexpr time_t kWriteTimeoutSeconds = 60;

// The oldest queued OpenSSL error as text, clearing the queue.
std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  char text[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, text, sizeof(text));
  ERR_clear_error();
  return text;
}

}  // namespace

HttpExchange::HttpExchange(const httplib::Request& request, httplib::Response& response)
    : request_(request), response_(response) {}

const std::string& HttpExchange::method() const { return request_.method; }
const std::string& HttpExchange::path() const { return request_.path; }
const std::string& HttpExchange::body() const { return request_.body; }

std::string HttpExchange::Header(const char* name) const { return request_.get_header_value(name); }

int HttpExchange::status() const { return response_.status < 0 ? 0 : response_.status; }

void HttpExchange::Reply(int status, std::string_view content_type, std::string_view body) {
  response_.status = status;
  response_.set_header("Cache-Control", "no-cache");
  response_.set_content(body.data(), body.size(), std::string(content_type).c_str());
}

void HttpExchange::StreamReply(std::string_view content_type,
                               std::function<void(const ChunkWriter& write)> producer) {
  response_.status = 200;
  response_.set_header("Cache-Control", "no-cache");
  // httplib copies the provider; the producer runs once.
  auto shared = std::make_shared<std::function<void(const ChunkWriter&)>>(std::move(producer));
  response_.set_chunked_content_provider(std::string(content_type),
                                         [shared](size_t /*offset*/, httplib::DataSink& sink) {
                                           bool connected = true;
                                           const ChunkWriter write = [&](std::string_view data) {
                                             // An empty chunk would end the body.
                                             if (connected && !data.empty())
                                               connected = sink.write(data.data(), data.size());
                                             return connected;
                                           };
                                           (*shared)(write);
                                           if (connected) sink.done();
                                           return connected;
                                         });
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              Handler handler, Handler refused) {
  const size_t colon = options.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-listen: '", options.listen, "' is not host:port"));
  }
  std::string host = options.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";

  std::unique_ptr<HttpServer> server(new HttpServer);
  if (options.tls_cert.empty()) {
    server->server_ = std::make_unique<httplib::Server>();
  } else {
    std::string error;
    auto setup = [&](SSL_CTX& ctx) {
      SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
      SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
      if (SSL_CTX_use_certificate_chain_file(&ctx, options.tls_cert.c_str()) != 1) {
        error =
            absl::StrCat("cannot use the TLS certificate ", options.tls_cert, ": ", OpenSslError());
        return false;
      }
      if (SSL_CTX_use_PrivateKey_file(&ctx, options.tls_key.c_str(), SSL_FILETYPE_PEM) != 1) {
        error = absl::StrCat("cannot use the TLS key ", options.tls_key, ": ", OpenSslError());
        return false;
      }
      if (SSL_CTX_check_private_key(&ctx) != 1) {
        error = absl::StrCat("the TLS key ", options.tls_key, " does not match the certificate ",
                             options.tls_cert);
        ERR_clear_error();
        return false;
      }
      return true;
    };
    auto tls = std::make_unique<httplib::SSLServer>(setup);
    if (!tls->is_valid()) {
      return absl::InvalidArgumentError(error.empty() ? "cannot set up TLS" : error);
    }
    server->server_ = std::move(tls);
    server->tls_ = true;
  }
  httplib::Server& http = *server->server_;
  const int threads = options.threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_tcp_nodelay(true);
  http.set_keep_alive_timeout(kKeepAliveSeconds);
  http.set_keep_alive_max_count(kKeepAliveRequests);
  http.set_read_timeout(kReadTimeoutSeconds, 0);
  http.set_write_timeout(kWriteTimeoutSeconds, 0);
  http.set_payload_max_length(options.max_body_bytes);
  // Every method and path goes to the handler, which routes (and answers 404 / 405).
  auto serve = [handler = std::move(handler)](const httplib::Request& request,
                                              httplib::Response& response) {
    HttpExchange exchange(request, response);
    handler(exchange);
  };
  const httplib::Server::Handler route(serve);
  http.Get(".*", route);
  http.Post(".*", route);
  http.Put(".*", route);
  http.Patch(".*", route);
  http.Delete(".*", route);
  http.Options(".*", route);
  // Called for every reply >= 400; only those without a body are the server's own refusals.
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [refused = std::move(refused)](const httplib::Request& request, httplib::Response& response) {
        if (!response.body.empty() || response.content_provider_) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        HttpExchange exchange(request, response);
        refused(exchange);
        return httplib::Server::HandlerResponse::Handled;
      }));

  if (port == 0) {
    port = http.bind_to_any_port(host);
    if (port < 0) port = 0;
  } else if (!http.bind_to_port(host, port)) {
    port = 0;
  }
  if (port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", options.listen));
  }
  server->port_ = port;
  server->listener_ = std::thread([&http, done = &server->listener_done_] {
    http.listen_after_bind();
    done->store(true);
  });
  return server;
}

HttpServer::~HttpServer() {
  if (!listener_.joinable()) return;
  // httplib's stop() does nothing before its loop runs, so a server destroyed right after
  // Start waits for the loop to start, then stops it once.
  bool stopped = false;
  while (!listener_done_.load()) {
    if (!stopped && server_->is_running()) {
      server_->stop();
      stopped = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  listener_.join();
}

}  // namespace rwkv::gateway
