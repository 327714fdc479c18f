/**
 * @file http_server.hpp
 * @brief Test helper: a tiny HTTP/1.1 server on 127.0.0.1 (port 0) for JWKS tests. Serves a programmable
 * response, counts requests, and can misbehave (delay, slow drip, hang up) so outage handling is tested against
 * a real socket and the real libcurl transport.
 */
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace cotter::test {

struct canned_response {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    int64_t delay_ms = 0;          ///< wait before answering (to pile up concurrent requests)
    int64_t drip_interval_ms = 0;  ///< > 0: send the body one byte per interval (slow drip)
    bool hang_up = false;          ///< close the connection without answering
    std::string etag;              ///< non-empty: sent as ETag, and a matching If-None-Match gets a 304
};

class http_server {
public:
    http_server();
    ~http_server();
    http_server(const http_server &) = delete;
    http_server &operator=(const http_server &) = delete;

    /// "http://127.0.0.1:<port><path>".
    std::string url(const std::string &path = "/jwks") const;
    int port() const { return port_; }

    /// Every request gets this response from now on.
    void respond(canned_response r);
    /// Shorthand: 200 with a JSON body and optional Cache-Control.
    void respond_json(const std::string &body, const std::string &cache_control = "");

    /// Requests received (complete request heads).
    uint64_t requests() const { return requests_.load(); }
    /// Body bytes written so far (a slow drip's progress: the response is mid-body once this is non-zero).
    uint64_t body_bytes_sent() const { return body_bytes_sent_.load(); }
    /// 304 answers sent (If-None-Match matched).
    uint64_t not_modified() const { return not_modified_.load(); }
    /// The head of the last request received.
    std::string last_request() const {
        std::lock_guard<std::mutex> lock(mu_);
        return last_request_;
    }
    /// The body of the last request received (read up to its Content-Length).
    std::string last_body() const {
        std::lock_guard<std::mutex> lock(mu_);
        return last_body_;
    }
    void reset_requests() { requests_.store(0); }

    /// Stops accepting and closes the listening socket (the port then refuses connections).
    void stop();

private:
    void accept_loop();
    void serve(int fd);

    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<uint64_t> requests_{0};
    std::atomic<uint64_t> body_bytes_sent_{0};
    std::atomic<uint64_t> not_modified_{0};
    std::string last_request_;
    std::string last_body_;
    mutable std::mutex mu_;
    canned_response response_;
    std::thread acceptor_;
    std::vector<std::thread> workers_;
};

}  // namespace cotter::test
