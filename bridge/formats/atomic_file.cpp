#include "bridge/formats/atomic_file.h"

#include "bridge/core/errors.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace hookscope {
namespace {

std::string errno_text() {
    return std::strerror(errno);
}

// The process umask, read without changing it (umask(2) would race with other threads).
mode_t current_umask() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("Umask:", 0) == 0) return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
    }
    return 022;
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
    // Owns the temporary file until it has been renamed into place.
    struct TempFile {
        int fd;
        std::string path;
        bool renamed = false;
        ~TempFile() {
            if (fd >= 0) ::close(fd);
            if (!renamed) ::unlink(path.c_str());
        }
    } file{fd, temp};
    const auto error = [&](const std::string& reason) {
        return ExportError("cannot write " + path.string() + ": " + reason);
    };
    try {
        FdSink sink(fd, path);
        produce(sink);
    } catch (const ExportError&) {
        throw;
    } catch (const std::exception& e) {
        throw error(e.what());
    } catch (...) {
        throw error("unknown error while writing");
    }
    // mkstemp creates 0600; give the file the permissions a plain create would.
    if (::fchmod(fd, 0666 & ~current_umask()) != 0 || ::fsync(fd) != 0) throw error(errno_text());
    if (::close(std::exchange(file.fd, -1)) != 0) throw error(errno_text());
    if (::rename(temp.c_str(), path.c_str()) != 0) throw error(errno_text());
    file.renamed = true;
}

} // namespace hookscope
