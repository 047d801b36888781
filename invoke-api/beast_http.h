#pragma once
// Between Boost.Beast's messages and the API's plain ones. Internal to invoke-api/: only the
// server and the wire functions see Beast.
#include <boost/beast/http.hpp>

#include "invoke-api/http_wire.h"

namespace thaw::api::beast_http {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using Parser = http::request_parser<http::string_body>;

void apply_limits(Parser& parser, const HttpLimits& limits);
HttpRequest from_beast(Request&& request);
Response to_beast(HttpResponse&& response, bool keep_alive);
// The status and message for a parse that failed with `ec`.
HttpParseError parse_error_of(const boost::system::error_code& ec);

}  // namespace thaw::api::beast_http
