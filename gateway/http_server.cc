#include "gateway/http_server.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "civetweb.h"
#include "services/common/log.h"

namespace rwkv::gateway {

struct HttpServer::Shared {
  Handler handler;
};

namespace {

int BeginRequest(mg_connection* connection) {
  const mg_request_info* info = mg_get_request_info(connection);
  auto* shared = static_cast<HttpServer::Shared*>(info->user_data);
  HttpExchange exchange(connection);
  shared->handler(exchange);
  // Civetweb wants a status for its bookkeeping; a reply has always been sent.
  return exchange.status() == 0 ? 500 : exchange.status();
}

int LogMessage(const mg_connection* /*connection*/, const char* message) {
  services::LogLine(absl::StrCat("http: ", message));
  return 1;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 499:
      return "Client Closed Request";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status < 500 ? "Bad Request" : "Internal Server Error";
  }
}

}  // namespace

HttpExchange::HttpExchange(mg_connection* connection) : connection_(connection) {
  const mg_request_info* info = mg_get_request_info(connection);
  method_ = info->request_method != nullptr ? info->request_method : "";
  path_ = info->local_uri != nullptr ? info->local_uri : "";
}

std::string HttpExchange::Header(const char* name) const {
  const char* value = mg_get_header(connection_, name);
  return value != nullptr ? value : "";
}

absl::StatusOr<std::string> HttpExchange::ReadBody(size_t limit) {
  const long long declared = mg_get_request_info(connection_)->content_length;
  if (declared > 0 && static_cast<unsigned long long>(declared) > limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the request body is larger than ", limit, " bytes"));
  }
  std::string body;
  if (declared > 0) body.reserve(static_cast<size_t>(declared));
  char buffer[16384];
  for (;;) {
    const int n = mg_read(connection_, buffer, sizeof(buffer));
    if (n < 0) return absl::UnavailableError("the client stopped sending the request body");
    if (n == 0) break;
    body.append(buffer, static_cast<size_t>(n));
    if (body.size() > limit) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the request body is larger than ", limit, " bytes"));
    }
  }
  return body;
}

void HttpExchange::Reply(int status, std::string_view content_type, std::string_view body) {
  status_ = status;
  // mg_printf's buffer is bounded; write the header and body separately.
  mg_printf(connection_,
            "HTTP/1.1 %d %s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-cache\r\n\r\n",
            status, ReasonPhrase(status), static_cast<int>(content_type.size()),
            content_type.data(), body.size());
  mg_write(connection_, body.data(), body.size());
}

bool HttpExchange::StartEventStream() {
  status_ = 200;
  return mg_send_http_ok(connection_, "text/event-stream", -1) >= 0;
}

// One write per chunk, framing included (mg_send_chunk writes size, data and CRLF separately,
// three packets per event with TCP_NODELAY).
bool HttpExchange::SendChunk(std::string_view data) {
  if (data.empty()) return true;  // an empty chunk would end the body
  std::string chunk = absl::StrCat(absl::Hex(data.size()), "\r\n");
  chunk.append(data).append("\r\n");
  return mg_write(connection_, chunk.data(), chunk.size()) == static_cast<int>(chunk.size());
}

void HttpExchange::EndChunks() { mg_write(connection_, "0\r\n\r\n", 5); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              Handler handler) {
  const size_t colon = options.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-listen: '", options.listen, "' is not host:port"));
  }
  std::unique_ptr<HttpServer> server(new HttpServer);
  server->shared_ = std::make_unique<Shared>(Shared{std::move(handler)});

  const std::string threads = std::to_string(options.threads);
  // An idle keep-alive connection holds a thread while it waits for the client's next request.
  const char* config[] = {"listening_ports",
                          options.listen.c_str(),
                          "num_threads",
                          threads.c_str(),
                          "enable_keep_alive",
                          "yes",
                          "tcp_nodelay",
                          "1",
                          "keep_alive_timeout_ms",
                          "5000",
                          nullptr};
  mg_callbacks callbacks = {};
  callbacks.begin_request = BeginRequest;
  callbacks.log_message = LogMessage;
  server->context_ = mg_start(&callbacks, server->shared_.get(), config);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", options.listen));
  }
  mg_server_port bound[4] = {};
  if (mg_get_server_ports(server->context_, 4, bound) > 0) server->port_ = bound[0].port;
  return server;
}

HttpServer::~HttpServer() {
  if (context_ != nullptr) mg_stop(context_);
}

}  // namespace rwkv::gateway
