#include "bridge/atomic_file.h"

#include "bridge/errors.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace hookscope {
namespace {

std::string errno_text() {
    return std::strerror(errno);
}

class FdSink final : public ByteSink {
public:
    FdSink(int fd, const std::filesystem::path& path) : fd_(fd), path_(path) {}
    using ByteSink::write;
    void write(const void* data, std::size_t size) override {
        const auto* p = static_cast<const char*>(data);
        while (size > 0) {
            const ssize_t n = ::write(fd_, p, size);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw ExportError("cannot write " + path_.string() + ": " + errno_text());
            }
            p += n;
            size -= static_cast<std::size_t>(n);
        }
    }

private:
    int fd_;
    const std::filesystem::path& path_;
};

} // namespace

void write_file_atomically(const std::filesystem::path& path, const std::function<void(ByteSink&)>& produce) {
    const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::string name = path.filename().string();
    name.insert(0, 1, '.'); // hidden while incomplete
    name += ".tmp-XXXXXX";
    std::string temp = (folder / name).string();
    const int fd = ::mkstemp(temp.data());
    if (fd < 0) {
        throw ExportError("cannot write " + path.string() + ": cannot create a file in " + folder.string() + ": " +
                          errno_text());
    }
    const auto fail = [&](const std::string& reason) {
        ::close(fd);
        ::unlink(temp.c_str());
        throw ExportError("cannot write " + path.string() + ": " + reason);
    };
    try {
        FdSink sink(fd, path);
        produce(sink);
    } catch (const ExportError& e) {
        ::close(fd);
        ::unlink(temp.c_str());
        throw;
    } catch (const std::exception& e) {
        fail(e.what());
    }
    // mkstemp creates 0600; give the file the permissions a plain create would.
    const mode_t mask = ::umask(0);
    ::umask(mask);
    if (::fchmod(fd, 0666 & ~mask) != 0 || ::fsync(fd) != 0) fail(errno_text());
    if (::close(fd) != 0) {
        const std::string reason = errno_text();
        ::unlink(temp.c_str());
        throw ExportError("cannot write " + path.string() + ": " + reason);
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const std::string reason = errno_text();
        ::unlink(temp.c_str());
        throw ExportError("cannot write " + path.string() + ": " + reason);
    }
}

} // namespace hookscope
