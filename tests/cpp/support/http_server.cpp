/**
 * @file http_server.cpp
 * @brief Blocking sockets, one thread per connection, joined on stop. Connection: close after each answer.
 */
#include "support/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <stdexcept>

namespace cotter::test {
namespace {

bool send_all(int fd, const std::string &data) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
    }
    return true;
}

const char *reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 304: return "Not Modified";
        case 404: return "Not Found";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Status";
    }
}

}  // namespace

http_server::http_server() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0)
        throw std::runtime_error("bind/listen");
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

http_server::~http_server() {
    stop();
    std::vector<std::thread> workers;
    {
        std::lock_guard<std::mutex> lock(mu_);
        workers.swap(workers_);
    }
    for (auto &t : workers) t.join();
}

std::string http_server::url(const std::string &path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void http_server::respond(canned_response r) {
    std::lock_guard<std::mutex> lock(mu_);
    response_ = std::move(r);
}

void http_server::respond_json(const std::string &body, const std::string &cache_control) {
    canned_response r;
    r.body = body;
    r.headers.push_back({"Content-Type", "application/json"});
    if (!cache_control.empty()) r.headers.push_back({"Cache-Control", cache_control});
    respond(std::move(r));
}

void http_server::stop() {
    if (stopping_.exchange(true)) return;
    if (acceptor_.joinable()) acceptor_.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
}

void http_server::accept_loop() {
    while (!stopping_.load()) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        std::lock_guard<std::mutex> lock(mu_);
        workers_.emplace_back([this, fd] { serve(fd); });
    }
}

void http_server::serve(int fd) {
    // Read the request head, then its body up to Content-Length (kept for last_body()).
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 2000) <= 0) break;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
    }
    if (head.find("\r\n\r\n") == std::string::npos) {
        ::close(fd);
        return;
    }
    const size_t head_end = head.find("\r\n\r\n") + 4;
    size_t content_length = 0;
    for (size_t line = head.find("\r\n"); line != std::string::npos && line + 2 < head_end;
         line = head.find("\r\n", line + 2)) {
        std::string name = head.substr(line + 2, 15);
        for (char &c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (name == "content-length:") content_length = std::strtoul(head.c_str() + line + 17, nullptr, 10);
    }
    while (head.size() < head_end + content_length && content_length < 65536) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 2000) <= 0) break;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
    }
    canned_response r;
    {
        std::lock_guard<std::mutex> lock(mu_);
        r = response_;
        last_request_ = head.substr(0, head_end - 4);
        last_body_ = head.substr(head_end);
    }
    requests_.fetch_add(1);
    if (!r.etag.empty()) {
        r.headers.push_back({"ETag", r.etag});
        if (head.find("\r\nIf-None-Match: " + r.etag + "\r\n") != std::string::npos) {
            not_modified_.fetch_add(1);
            r.status = 304;
            r.body.clear();
        }
    }
    auto sleep_ms = [this](int64_t ms) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (!stopping_.load() && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    };
    if (r.delay_ms > 0) sleep_ms(r.delay_ms);
    if (r.hang_up) {
        ::close(fd);
        return;
    }
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\n";
    for (const auto &h : r.headers) out += h.first + ": " + h.second + "\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\nConnection: close\r\n\r\n";
    if (r.drip_interval_ms > 0) {
        if (send_all(fd, out)) {
            for (char c : r.body) {
                if (stopping_.load() || !send_all(fd, std::string(1, c))) break;
                body_bytes_sent_.fetch_add(1);
                sleep_ms(r.drip_interval_ms);
            }
        }
    } else {
        send_all(fd, out + r.body);
    }
    ::shutdown(fd, SHUT_WR);
    // Drain until the client closes so it sees the whole response before our FIN/RST.
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 200) > 0 && ::recv(fd, buf, sizeof buf, 0) > 0) {
    }
    ::close(fd);
}

}  // namespace cotter::test
