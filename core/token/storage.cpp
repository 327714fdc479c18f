/**
 * @file storage.cpp
 * @brief Token storage backends (see storage.hpp). Error messages name the file and the errno text, never
 * the content.
 */
#include "token/storage.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.hpp"

namespace cotter::core::token {
namespace {

[[noreturn]] void storage_error(const std::string &what, const std::string &path, int err) {
    fail(COTTER_ESTORAGE, what + " '" + path + "': " + std::strerror(err));
}

std::string directory_of(const std::string &path) {
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

void fsync_directory(const std::string &dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) storage_error("cannot open directory", dir, errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) storage_error("cannot fsync directory", dir, err);
}

bool write_all(int fd, const std::string &data) {
    size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        off += static_cast<size_t>(n);
    }
    return true;
}

std::string base_name(const std::string &path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Removes "<file>.tmp.*" left by a process killed between mkostemp and rename. Sessions save under the file
/// lock, so no other writer's temporary file can be in flight.
void remove_stale_temporaries(const std::string &dir, const std::string &path) {
    const std::string prefix = base_name(path) + ".tmp.";
    DIR *d = ::opendir(dir.c_str());
    if (!d) return;
    while (const dirent *e = ::readdir(d)) {
        if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0 && std::strlen(e->d_name) == prefix.size() + 6)
            ::unlinkat(::dirfd(d), e->d_name, 0);
    }
    ::closedir(d);
}

/// Opens `path` (flags plus O_NOFOLLOW, O_NONBLOCK, O_CLOEXEC; mode 0600 when created), fills `st` and checks that
/// it is a regular file owned by us (or root). Returns -1 when it does not exist and `flags` has no O_CREAT.
/// - O_NOFOLLOW: a symlink planted at the path (in a shared directory) must not redirect our reads, or our
///   O_CREAT to a file of the attacker's choosing; ELOOP becomes a clear error.
/// - O_NONBLOCK: opening a FIFO for reading would block until a writer appears (forever); with it the open
///   returns at once and the fstat check refuses the FIFO. Reads of a regular file ignore the flag.
/// - The owner check: a file that another user planted (a sticky /tmp lets them) would hand us their tokens.
int open_regular(const std::string &path, int flags, const char *what, struct stat &st) {
    const int fd = ::open(path.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT && !(flags & O_CREAT)) return -1;
        if (err == ELOOP) fail(COTTER_ESTORAGE, std::string(what) + " '" + path + "' is a symbolic link; give the real path");
        storage_error(std::string("cannot open ") + what, path, err);
    }
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        storage_error(std::string("cannot stat ") + what, path, err);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(COTTER_ESTORAGE, std::string(what) + " '" + path + "' is not a regular file");
    }
    if (st.st_uid != ::geteuid() && st.st_uid != 0) {
        ::close(fd);
        fail(COTTER_ESTORAGE, std::string(what) + " '" + path + "' belongs to another user");
    }
    return fd;
}

class flock_guard final : public storage_lock {
public:
    explicit flock_guard(int fd) : fd_(fd) {}
    ~flock_guard() override {
        ::flock(fd_, LOCK_UN);
        ::close(fd_);
    }

private:
    int fd_;
};

}  // namespace

file_storage::file_storage(std::string path) : path_(std::move(path)) {
    if (path_.empty()) fail(COTTER_EINVAL, "token_file is empty");
}

bool file_storage::load(token_set &out) {
    struct stat st {};
    const int fd = open_regular(path_, O_RDONLY, "token file", st);
    if (fd < 0) return false;
    if (st.st_size > static_cast<off_t>(k_max_stored_bytes)) {
        ::close(fd);
        fail(COTTER_ESTORAGE, "token file '" + path_ + "' is larger than 1 MiB");
    }
    std::string data;
    data.resize(static_cast<size_t>(st.st_size));
    size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::read(fd, &data[off], data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        off += static_cast<size_t>(n);
    }
    ::close(fd);
    data.resize(off);
    struct wiper {
        std::string &s;
        ~wiper() { wipe(s); }
    } w{data};
    try {
        out = token_set::from_json(data, "token file");
    } catch (const error &e) {
        fail(COTTER_ESTORAGE, "token file '" + path_ + "' is corrupt: " + e.info().message);
    }
    return true;
}

void file_storage::save(const token_set *t) {
    const std::string dir = directory_of(path_);
    if (!t) {
        if (::unlink(path_.c_str()) != 0 && errno != ENOENT) storage_error("cannot delete token file", path_, errno);
        fsync_directory(dir);
        return;
    }
    std::string json = t->to_json();
    struct wiper {
        std::string &s;
        ~wiper() { wipe(s); }
    } w{json};
    remove_stale_temporaries(dir, path_);
    std::string tmp = path_ + ".tmp.XXXXXX";
    // mkostemp creates with O_CREAT | O_EXCL (mode 0600), which never follows a symlink planted at the name.
    const int fd = ::mkostemp(&tmp[0], O_CLOEXEC);
    if (fd < 0) storage_error("cannot create a temporary file next to", path_, errno);
    bool ok = ::fchmod(fd, 0600) == 0 && write_all(fd, json) && ::fsync(fd) == 0;
    int err = errno;
    if (::close(fd) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok && ::rename(tmp.c_str(), path_.c_str()) != 0) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        ::unlink(tmp.c_str());
        storage_error("cannot write token file", path_, err);
    }
    fsync_directory(dir);
}

std::unique_ptr<storage_lock> file_storage::lock() { return acquire(true); }

bool file_storage::try_lock(std::unique_ptr<storage_lock> &out) {
    out = acquire(false);
    return out != nullptr;
}

/// The lock, or null when `wait` is false and another process holds it.
std::unique_ptr<storage_lock> file_storage::acquire(bool wait) {
    const std::string lock_path = path_ + ".lock";
    struct stat st {};
    const int fd = open_regular(lock_path, O_RDWR | O_CREAT, "lock file", st);
    while (::flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::close(fd);
        if (!wait && err == EWOULDBLOCK) return nullptr;
        storage_error("cannot lock", lock_path, err);
    }
    return std::make_unique<flock_guard>(fd);
}

bool hook_storage::load(token_set &out) {
    if (!load_) return false;
    std::string json;
    struct wiper {
        std::string &s;
        ~wiper() { wipe(s); }
    } w{json};
    if (load_(json) != 0) fail(COTTER_EUSER, "the storage load hook failed");
    if (json.empty()) return false;
    if (json.size() > k_max_stored_bytes) fail(COTTER_ESTORAGE, "the storage load hook returned more than 1 MiB");
    try {
        out = token_set::from_json(json, "stored tokens");
    } catch (const error &e) {
        fail(COTTER_ESTORAGE, "the stored tokens are corrupt: " + e.info().message);
    }
    return true;
}

void hook_storage::save(const token_set *t) {
    if (!save_) return;
    if (!t) {
        if (save_(nullptr) != 0) fail(COTTER_EUSER, "the storage save hook failed");
        return;
    }
    std::string json = t->to_json();
    struct wiper {
        std::string &s;
        ~wiper() { wipe(s); }
    } w{json};
    if (save_(&json) != 0) fail(COTTER_EUSER, "the storage save hook failed");
}

}  // namespace cotter::core::token
