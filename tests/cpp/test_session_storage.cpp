/**
 * @file test_session_storage.cpp
 * @brief Session storage: the token file (format, mode 0600, atomic replace survives SIGKILL 1,000 times,
 * corrupt files), two processes sharing a file refresh once, user hooks, tokens-changed callbacks, EREAUTH.
 */
#include <doctest/doctest.h>

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support/client_fixture.hpp"
#include "token/session.hpp"

using namespace cotter::core;
using namespace cotter::core::token;
using cotter::test::client_options_for;
using cotter::test::emulator;
using cotter::test::error_of;

namespace {
struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/cotter-session-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~temp_dir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

std::string read_file(const std::string &p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void write_file(const std::string &p, const std::string &data) {
    std::ofstream f(p);
    f << data;
}

token_set sample(int i) {
    token_set t;
    t.access_token = secret_string("access." + std::to_string(i) + "." + std::string(200, 'x'));
    t.id_token = secret_string("id." + std::to_string(i));
    t.refresh_token = secret_string(std::to_string(i) + ":refresh");
    t.token_type = "Bearer";
    t.auth_method = "OTP";
    t.expires_in = 3600;
    return t;
}
}  // namespace

TEST_CASE("the token file is the six-key oauth_token JSON, mode 0600, readable by the old Python SDK's shape") {
    temp_dir dir;
    const std::string path = dir.path + "/cottertoken.json";
    file_storage fs(path);
    token_set none;
    CHECK_FALSE(fs.load(none));
    token_set t = sample(1);
    fs.save(&t);
    struct stat st {};
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    const std::string json = read_file(path);
    CHECK(json == t.to_json());
    CHECK(json.find("\"access_token\"") != std::string::npos);
    CHECK(json.find("\"expires_in\":3600") != std::string::npos);
    token_set back;
    REQUIRE(fs.load(back));
    CHECK(back.refresh_token.str() == "1:refresh");
    CHECK(back.auth_method == "OTP");
    // A file written by Cotter's Python SDK (json.dumps with spaces) loads too.
    write_file(path, R"({"access_token": "a.b.c", "auth_method": "OTP", "expires_in": 3600, "id_token": "i", "refresh_token": "5:r", "token_type": "Bearer"})");
    REQUIRE(fs.load(back));
    CHECK(back.refresh_token.str() == "5:r");
    fs.save(nullptr);
    CHECK_FALSE(fs.load(back));
    fs.save(nullptr);  // deleting twice is fine
}

TEST_CASE("corrupt or empty token files are ESTORAGE, never a crash") {
    temp_dir dir;
    const std::string path = dir.path + "/t.json";
    file_storage fs(path);
    token_set t;
    for (const char *bad : {"", "{", "null", "[]", R"({"refresh_token":"x"})", R"({"access_token":1})"}) {
        CAPTURE(bad);
        write_file(path, bad);
        CHECK(error_of([&] { fs.load(t); }).code == COTTER_ESTORAGE);
    }
    file_storage missing_dir(dir.path + "/no/such/dir/t.json");
    token_set s = sample(1);
    CHECK(error_of([&] { missing_dir.save(&s); }).code == COTTER_ESTORAGE);
}

namespace {
/// Runs `f` in a child process that SIGALRM kills after 30 s, so that a call that blocks forever (opening a FIFO
/// without O_NONBLOCK) fails the test instead of hanging it. Returns what the child returned (0 = passed).
int in_child_with_watchdog(const std::function<int()> &f) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(30);
        int rc = 99;
        try {
            rc = f();
        } catch (...) {
        }
        _exit(rc);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
}  // namespace

TEST_CASE("a token file or lock file that is a FIFO is ESTORAGE at once, never a hang") {
    temp_dir dir;
    const std::string path = dir.path + "/fifo.json";
    REQUIRE(mkfifo(path.c_str(), 0600) == 0);
    // Loading directly, and through a session (which loads when it starts).
    CHECK(in_child_with_watchdog([&] {
              file_storage fs(path);
              token_set t;
              const error_info e = error_of([&] { fs.load(t); });
              return e.code == COTTER_ESTORAGE && e.message.find("not a regular file") != std::string::npos ? 0 : 1;
          }) == 0);
    CHECK(in_child_with_watchdog([&] {
              client_options o;
              o.api_key_id = "key";
              o.base_url = "http://127.0.0.1:9/api/v0";  // never called: the session fails while loading
              auto c = std::make_shared<client>(std::move(o));
              session_options so;
              so.store = std::make_unique<file_storage>(path);
              return error_of([&] { session::create(c, std::move(so), nullptr); }).code == COTTER_ESTORAGE ? 0 : 1;
          }) == 0);

    const std::string good = dir.path + "/good.json";
    REQUIRE(mkfifo((good + ".lock").c_str(), 0600) == 0);
    file_storage fs(good);
    CHECK(error_of([&] { fs.lock(); }).code == COTTER_ESTORAGE);
}

TEST_CASE("symlinks are never followed: not the token file on load, not a planted <file>.lock") {
    temp_dir dir;
    const std::string real = dir.path + "/elsewhere.json";
    token_set t = sample(7);
    file_storage(real).save(&t);

    const std::string linked = dir.path + "/linked.json";
    REQUIRE(symlink(real.c_str(), linked.c_str()) == 0);
    file_storage via_link(linked);
    token_set got;
    const error_info e = error_of([&] { via_link.load(got); });
    CHECK(e.code == COTTER_ESTORAGE);
    CHECK(e.message.find("symbolic link") != std::string::npos);
    CHECK(got.refresh_token.str().empty());

    // A lock symlink planted by someone who can write the directory: O_CREAT must not create (or open) its target.
    const std::string path = dir.path + "/tokens.json";
    const std::string victim = dir.path + "/victim";
    REQUIRE(symlink(victim.c_str(), (path + ".lock").c_str()) == 0);
    file_storage fs(path);
    CHECK(error_of([&] { fs.lock(); }).code == COTTER_ESTORAGE);
    struct stat st {};
    CHECK(lstat(victim.c_str(), &st) != 0);  // not created
    write_file(victim, "precious");
    CHECK(error_of([&] { fs.lock(); }).code == COTTER_ESTORAGE);
    CHECK(read_file(victim) == "precious");

    // Saving over a symlinked token file replaces the link itself (rename), never writes through it.
    file_storage over_link(linked);
    token_set t2 = sample(8);
    over_link.save(&t2);
    CHECK(lstat(linked.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    token_set back;
    REQUIRE(file_storage(real).load(back));
    CHECK(back.refresh_token.str() == "7:refresh");
}

TEST_CASE("a token file or lock file owned by another user is ESTORAGE (a sticky /tmp lets anyone plant one)") {
    if (geteuid() != 0) {
        MESSAGE("skipped: creating a file owned by another user needs root");
        return;
    }
    temp_dir dir;
    const std::string path = dir.path + "/planted.json";
    token_set t = sample(9);
    file_storage fs(path);
    fs.save(&t);
    REQUIRE(chown(path.c_str(), 65534, 65534) == 0);
    token_set got;
    const error_info e = error_of([&] { fs.load(got); });
    CHECK(e.code == COTTER_ESTORAGE);
    CHECK(e.message.find("another user") != std::string::npos);
    write_file(path + ".lock", "");
    REQUIRE(chown((path + ".lock").c_str(), 65534, 65534) == 0);
    CHECK(error_of([&] { fs.lock(); }).code == COTTER_ESTORAGE);
    // Owned by root (e.g. copied with sudo): accepted.
    REQUIRE(chown(path.c_str(), 0, 0) == 0);
    CHECK(fs.load(got));
}

TEST_CASE("SIGKILL while saving, 1,000 times: the file is always a complete old or new token set") {
    temp_dir dir;
    const std::string path = dir.path + "/t.json";
    {
        file_storage fs(path);
        token_set first = sample(0);
        fs.save(&first);
    }
    std::mt19937 rng(12345);
    int kills_mid_run = 0;
    for (int round = 0; round < 1000; ++round) {
        const pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            file_storage fs(path);
            for (int i = 1;; ++i) {
                token_set t = sample(i);
                fs.save(&t);
            }
        }
        usleep(std::uniform_int_distribution<int>(0, 3000)(rng));
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status)) ++kills_mid_run;
        file_storage fs(path);
        token_set t;
        bool ok = false;
        try {
            ok = fs.load(t);
        } catch (...) {
        }
        REQUIRE_MESSAGE(ok, "round " << round << ": token file missing or corrupt");
        REQUIRE(t.refresh_token.str().find(":refresh") != std::string::npos);
    }
    CHECK(kills_mid_run == 1000);
    // Kills between mkostemp and rename leave temporaries behind; the next save removes them.
    {
        file_storage fs(path);
        token_set t = sample(7);
        fs.save(&t);
    }
    int leftovers = 0;
    if (DIR *d = opendir(dir.path.c_str())) {
        while (dirent *e = readdir(d))
            if (std::string(e->d_name).find(".tmp.") != std::string::npos) ++leftovers;
        closedir(d);
    }
    CHECK(leftovers == 0);
}

TEST_CASE("two processes sharing an expired token file refresh exactly once") {
    emulator emu;
    temp_dir dir;
    const std::string path = dir.path + "/shared.json";
    emu.dev_ok("POST", "/expire_tokens", R"({"next_access_ttl":-5,"count":1})");
    token_set expired = token_set::from_json(emu.login_oauth_token("two@example.com"), "test");
    {
        file_storage fs(path);
        fs.save(&expired);
    }
    emu.reset_stats();
    int go[2], results[2];
    REQUIRE(pipe(go) == 0);
    REQUIRE(pipe(results) == 0);
    std::vector<pid_t> kids;
    for (int k = 0; k < 2; ++k) {
        const pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            close(go[1]);
            int rc = 1;
            try {
                auto c = std::make_shared<client>(client_options_for(emu, false));
                session_options so;
                so.store = std::make_unique<file_storage>(path);
                auto s = session::create(c, std::move(so), nullptr);
                char b;
                (void)!read(go[0], &b, 1);  // both children start together when the parent closes the pipe
                const std::string tok = s->access_token().str() + "\n";
                (void)!write(results[1], tok.data(), tok.size());
                rc = 0;
            } catch (...) {
            }
            _exit(rc);
        }
        kids.push_back(pid);
    }
    close(go[0]);
    close(go[1]);
    close(results[1]);
    for (pid_t pid : kids) {
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = read(results[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    close(results[0]);
    const size_t nl = out.find('\n');
    REQUIRE(nl != std::string::npos);
    const std::string first = out.substr(0, nl), second = out.substr(nl + 1, out.find('\n', nl + 1) - nl - 1);
    CHECK(first == second);
    CHECK(first != expired.access_token.str());
    CHECK(emu.route_requests("POST /api/v0/token/:api_key_id") == 1);
    file_storage fs(path);
    token_set now;
    REQUIRE(fs.load(now));
    CHECK(now.access_token.str() == first);
}

TEST_CASE("session with hooks: load at start, save on every change, callback after every change, logout deletes") {
    emulator emu;
    auto c = std::make_shared<client>(client_options_for(emu, false));
    std::string stored = emu.login_oauth_token("hooks@example.com");
    int saves = 0, deletes = 0;
    std::vector<std::string> changes;
    session_options so;
    so.store = std::make_unique<hook_storage>(
        [&](std::string &json) {
            json = stored;
            return 0;
        },
        [&](const std::string *json) {
            if (json) {
                stored = *json;
                ++saves;
            } else {
                stored.clear();
                ++deletes;
            }
            return 0;
        });
    so.on_tokens_changed = [&](const token_set *t) { changes.push_back(t ? t->refresh_token.str() : "<none>"); };
    auto s = session::create(c, std::move(so), nullptr);
    const std::string before = token_set::from_json(stored, "t").refresh_token.str();
    auto t = s->refresh_now();
    CHECK(t->refresh_token.str() != before);
    CHECK(saves == 1);
    CHECK(token_set::from_json(stored, "t").refresh_token.str() == t->refresh_token.str());
    REQUIRE(changes.size() == 1);
    CHECK(changes[0] == t->refresh_token.str());
    s->logout();
    CHECK(deletes == 1);
    CHECK(changes.back() == "<none>");
    CHECK(error_of([&] { s->access_token(); }).code == COTTER_EREAUTH);
    // The server session is gone too.
    CHECK(error_of([&] { c->refresh(t->refresh_token.str()); }).code == COTTER_EREAUTH);
}

TEST_CASE("a failing hook is EUSER; a rejected refresh token is EREAUTH without a second request") {
    emulator emu;
    auto c = std::make_shared<client>(client_options_for(emu, false));
    session_options so;
    so.store = std::make_unique<hook_storage>([](std::string &) { return 1; }, nullptr);
    CHECK(error_of([&] { auto s = session::create(c, std::move(so), nullptr); }).code == COTTER_EUSER);

    token_set t = token_set::from_json(emu.login_oauth_token("reauth@example.com"), "test");
    c->refresh(t.refresh_token.str());  // rotates: the session's refresh token is now dead
    auto s = session::create(c, session_options{}, &t);
    emu.reset_stats();
    const error_info e = error_of([&] { s->refresh_now(); });
    CHECK(e.code == COTTER_EREAUTH);
    CHECK(error_of([&] { s->refresh_now(); }).code == COTTER_EREAUTH);
    CHECK(emu.route_requests("POST /api/v0/token/:api_key_id") == 1);
    // The tokens are kept (not destroyed) until the application replaces them.
    session_options empty;
    auto none = session::create(c, std::move(empty), nullptr);
    CHECK(error_of([&] { none->access_token(); }).code == COTTER_EREAUTH);
    token_set fresh = token_set::from_json(emu.login_oauth_token("reauth@example.com"), "test");
    s->set(fresh);
    CHECK(s->refresh_now()->refresh_token.str() != fresh.refresh_token.str());
}

TEST_CASE("a store that fails after a refresh: the caller is told, the new tokens are kept in memory") {
    emulator emu;
    auto c = std::make_shared<client>(client_options_for(emu, false));
    token_set t = token_set::from_json(emu.login_oauth_token("store-fails@example.com"), "test");
    bool fail_saves = false;
    session_options so;
    so.store = std::make_unique<hook_storage>(nullptr, [&](const std::string *) { return fail_saves ? 1 : 0; });
    auto s = session::create(c, std::move(so), &t);
    fail_saves = true;
    emu.reset_stats();
    CHECK(error_of([&] { s->refresh_now(); }).code == COTTER_EUSER);
    // The rotated tokens live on in memory (the old refresh token is dead at the server).
    auto now = s->tokens();
    CHECK(now->refresh_token.str() != t.refresh_token.str());
    CHECK(!c->refresh(now->refresh_token.str()).access_token.empty());
    CHECK(emu.route_requests("POST /api/v0/token/:api_key_id") == 2);
}

TEST_CASE("the tokens-changed callback may read the session but not refresh it (EINVAL, no deadlock)") {
    emulator emu;
    auto c = std::make_shared<client>(client_options_for(emu, false));
    token_set t = token_set::from_json(emu.login_oauth_token("reentrant@example.com"), "test");
    session *self = nullptr;
    int inner = -1;
    std::string seen;
    session_options so;
    so.on_tokens_changed = [&](const token_set *) {
        seen = self->access_token().str();  // fresh: no refresh needed
        inner = error_of([&] { self->refresh_now(); }).code;
    };
    auto s = session::create(c, std::move(so), &t);
    self = s.get();
    auto next = s->refresh_now();
    CHECK(inner == COTTER_EINVAL);
    CHECK(seen == next->access_token.str());
}
