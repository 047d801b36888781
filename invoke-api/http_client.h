#pragma once
// A blocking HTTP/1.1 client on one keep-alive connection, for the benchmarks that drive
// `thaw serve` as its clients do (one connection each, requests one after another).
#include <cstdint>
#include <memory>
#include <string>

#include "invoke-api/http_message.h"

namespace thaw::api {

class HttpClient {
 public:
  // Connects (thaw::Error with why not).
  HttpClient(const std::string& address, uint16_t port);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends the request (Host and Content-Length added) and reads its response; thaw::Error when
  // the connection fails or closes.
  HttpResponse send(const HttpRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace thaw::api
