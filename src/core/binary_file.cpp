#include "core/binary_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <limits>
#include <random>
#include <string_view>
#include <system_error>
#include <utility>

#include "knnx/error.hpp"

namespace knnx::detail {
namespace {

// Writes are gathered into pieces of this size before they reach the kernel.
constexpr std::size_t kWriteBufferBytes = std::size_t{4} << 20;
// Larger single transfers are split: Linux moves at most about 2 GiB per read/write call.
constexpr std::size_t kMaxTransfer = std::size_t{1} << 30;

std::string errno_message(int err) { return std::generic_category().message(err); }

std::string parent_directory(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

const char* file_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "FIFO";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  return "special file";
}

// Where writing `path` must land: a symbolic link is followed to its target (as editors do),
// so that saving through a link updates the file it points to and keeps the link.
std::string resolve_symlinks(std::string path) {
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
    std::string target(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 4096) + 1, '\0');
    const ssize_t len = ::readlink(path.c_str(), target.data(), target.size());
    if (len < 0) return path;
    target.resize(static_cast<std::size_t>(len));
    if (!target.empty() && target.front() != '/') target = parent_directory(path) + "/" + target;
    path = std::move(target);
  }
  throw IoError(fmt::format("cannot write '{}': too many levels of symbolic links", path));
}

// Temporary names: "<name>.tmp.<16 hex digits>" beside the target, with <name> shortened so the
// whole name stays within NAME_MAX.
constexpr std::string_view kTempInfix = ".tmp.";
constexpr std::size_t kTempSuffixBytes = kTempInfix.size() + 16;
constexpr std::size_t kNameMax = NAME_MAX;

std::string temp_stem(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  const std::size_t name_begin = slash == std::string::npos ? 0 : slash + 1;
  const std::size_t keep = std::min(path.size() - name_begin, kNameMax - kTempSuffixBytes);
  return path.substr(0, name_begin + keep);
}

std::string temporary_name(const std::string& path, std::uint64_t random) {
  return fmt::format("{}{}{:016x}", temp_stem(path), kTempInfix, random);
}

// Temporary files of earlier writes to `path` whose writer died (killed before it could delete
// them): no lock on them, and untouched for kStaleSeconds. They are removed before a new write.
constexpr int kStaleSeconds = 10;

void reclaim_stale_temporaries(const std::string& path) {
  const std::string stem = temp_stem(path);
  const std::size_t slash = stem.find_last_of('/');
  const std::string dir_path = slash == std::string::npos ? "." : stem.substr(0, slash + 1);
  const std::string prefix =
      (slash == std::string::npos ? stem : stem.substr(slash + 1)) + std::string(kTempInfix);
  DIR* dir = ::opendir(dir_path.c_str());
  if (dir == nullptr) return;
  const std::time_t now = std::time(nullptr);
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name(entry->d_name);
    if (name.size() != prefix.size() + 16 || name.substr(0, prefix.size()) != prefix) continue;
    if (name.find_first_not_of("0123456789abcdef", prefix.size()) != std::string_view::npos) {
      continue;
    }
    const std::string candidate = (slash == std::string::npos ? "" : dir_path) + std::string(name);
    const int fd = ::open(candidate.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && now - st.st_mtime >= kStaleSeconds &&
        ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      ::unlink(candidate.c_str());
    }
    ::close(fd);
  }
  ::closedir(dir);
}

}  // namespace

void check_path(const std::string& path) {
  if (path.empty()) throw InvalidArgument("the file path is empty");
  const std::size_t nul = path.find('\0');
  if (nul != std::string::npos) {
    throw InvalidArgument(fmt::format(
        "the file path contains a NUL character at position {} (after '{}'); paths cannot "
        "contain NUL",
        nul, path.substr(0, nul)));
  }
}

// ------------------------------------------------------------------------------------------
// InputFile

InputFile::InputFile(std::string path) : path_(std::move(path)) {
  check_path(path_);
  struct stat pre {};
  if (::stat(path_.c_str(), &pre) == 0 && !S_ISREG(pre.st_mode) && !S_ISDIR(pre.st_mode)) {
    throw IoError(fmt::format("cannot read '{}': it is not a regular file (a {})", path_,
                              file_kind(pre.st_mode)));
  }
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; what is
  // not a regular file is refused below, before any read.
  do {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  } while (fd_ < 0 && errno == EINTR);
  if (fd_ < 0) {
    const int err = errno;
    throw IoError(fmt::format("cannot open '{}' for reading: {}", path_, errno_message(err)));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    throw IoError(fmt::format("cannot stat '{}': {}", path_, errno_message(err)));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd_);
    throw IoError(fmt::format("cannot read '{}': it is a directory", path_));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw IoError(fmt::format("cannot read '{}': it is not a regular file (a {})", path_,
                              file_kind(st.st_mode)));
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
}

InputFile::InputFile(const InputFile& outer, std::uint64_t offset, std::uint64_t size,
                     std::string name)
    : path_(std::move(name)), base_(outer.base_ + offset), nested_(true), size_(size) {
  if (offset > outer.size_ || size > outer.size_ - offset) {
    throw Error(fmt::format("'{}': bytes {} to {} lie outside the {}-byte file", outer.path_,
                            offset, offset + size, outer.size_));
  }
  fd_ = ::fcntl(outer.fd_, F_DUPFD_CLOEXEC, 0);
  if (fd_ < 0) {
    const int err = errno;
    throw IoError(fmt::format("cannot reopen '{}': {}", outer.path_, errno_message(err)));
  }
}

InputFile::~InputFile() { ::close(fd_); }

void InputFile::read_at(std::uint64_t offset, void* buffer, std::size_t n) const {
  auto* p = static_cast<char*>(buffer);
  if (nested_ && (offset > size_ || n > size_ - offset)) {  // the outer file goes on
    throw FormatError(fmt::format("'{}': {} bytes at offset {} run past its end ({} bytes)", path_,
                                  n, offset, size_));
  }
  offset += base_;
  while (n > 0) {
    const ssize_t got = ::pread(fd_, p, std::min(n, kMaxTransfer), static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      throw IoError(
          fmt::format("error reading '{}' at offset {}: {}", path_, offset, errno_message(err)));
    }
    if (got == 0) {
      throw FormatError(fmt::format(
          "'{}': unexpected end of file at offset {} (the file shrank while it was being read)",
          path_, offset));
    }
    p += got;
    offset += static_cast<std::uint64_t>(got);
    n -= static_cast<std::size_t>(got);
  }
}

std::shared_ptr<const std::uint8_t> InputFile::map(std::uint64_t offset, std::uint64_t size) const {
  if (size == 0 || offset > size_ || size > size_ - offset) {
    throw Error(fmt::format("'{}': cannot map {} bytes at offset {} of a {}-byte file", path_, size,
                            offset, size_));
  }
  const std::uint64_t first = base_ + offset;
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    throw IoError(fmt::format("cannot stat '{}': {}", path_, errno_message(err)));
  }
  const auto now = static_cast<std::uint64_t>(st.st_size);
  if (first > now || size > now - first) {
    throw FormatError(fmt::format(
        "'{}': bytes {} to {} lie past the end of the file ({} bytes now; it shrank after it "
        "was opened)",
        path_, offset, offset + size, now > base_ ? now - base_ : 0));
  }
  if (size > std::numeric_limits<std::size_t>::max() / 2) {
    throw IoError(fmt::format("cannot map {} bytes of '{}': too large", size, path_));
  }
  // mmap takes a page-aligned file offset: map from the page holding the first byte.
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t start = first / page * page;
  const auto length = static_cast<std::size_t>(first + size - start);
  void* p = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd_, static_cast<off_t>(start));
  if (p == MAP_FAILED) {
    const int err = errno;
    throw IoError(fmt::format("cannot map {} bytes of '{}' at offset {}: {}", size, path_, offset,
                              errno_message(err)));
  }
  std::shared_ptr<void> mapping(p, [length](void* q) { ::munmap(q, length); });
  return {mapping, static_cast<const std::uint8_t*>(p) + (first - start)};
}

// ------------------------------------------------------------------------------------------
// AtomicFileWriter

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  check_path(path_);
  path_ = resolve_symlinks(path_);
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      throw IoError(fmt::format("cannot write '{}': it is a directory", path_));
    }
    if (!S_ISREG(st.st_mode)) {
      throw IoError(fmt::format("cannot write '{}': it is not a regular file (a {})", path_,
                                file_kind(st.st_mode)));
    }
  }
  reclaim_stale_temporaries(path_);
  std::random_device entropy;
  int err = 0;
  for (int attempt = 0; attempt < 8 && fd_ < 0; ++attempt) {
    const std::uint64_t r = (std::uint64_t{entropy()} << 32) ^ entropy();
    tmp_ = temporary_name(path_, r);
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    err = errno;
    if (fd_ < 0 && err != EEXIST && err != EINTR) break;
  }
  if (fd_ < 0) {
    throw IoError(fmt::format("cannot write '{}': cannot create temporary file '{}': {}", path_,
                              tmp_, errno_message(err)));
  }
  // Held until the writer closes the file (or its process dies): a lock that can be taken
  // marks a temporary file nobody is writing any more.
  ::flock(fd_, LOCK_EX | LOCK_NB);
  buffer_.reserve(kWriteBufferBytes);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFileWriter::fail(const char* what, int err) const {
  throw IoError(fmt::format("cannot write '{}': {} temporary file '{}': {}", path_, what, tmp_,
                            errno_message(err)));
}

void AtomicFileWriter::write(const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  if (buffer_.size() + n > kWriteBufferBytes) flush();
  if (n >= kWriteBufferBytes) {
    write_fd(p, n);
  } else {
    buffer_.insert(buffer_.end(), p, p + n);
  }
  position_ += n;
}

void AtomicFileWriter::write_zeros(std::size_t n) {
  static constexpr std::uint8_t kZeros[256] = {};
  while (n > 0) {
    const std::size_t m = std::min(n, sizeof kZeros);
    write(kZeros, m);
    n -= m;
  }
}

void AtomicFileWriter::overwrite(std::uint64_t offset, const void* data, std::size_t n) {
  if (offset + n > position_) {
    throw Error(fmt::format("writing '{}': overwrite of bytes [{}, {}) past the {} written", path_,
                            offset, offset + n, position_));
  }
  flush();
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    const ssize_t put = ::pwrite(fd_, p, std::min(n, kMaxTransfer), static_cast<off_t>(offset));
    if (put < 0) {
      if (errno == EINTR) continue;
      fail("cannot write to", errno);
    }
    p += put;
    offset += static_cast<std::uint64_t>(put);
    n -= static_cast<std::size_t>(put);
  }
}

void AtomicFileWriter::flush() {
  write_fd(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void AtomicFileWriter::write_fd(const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t put = ::write(fd_, p, std::min(n, kMaxTransfer));
    if (put < 0) {
      if (errno == EINTR) continue;
      fail("cannot write to", errno);
    }
    p += put;
    n -= static_cast<std::size_t>(put);
  }
}

void AtomicFileWriter::commit() {
  flush();
  if (::fsync(fd_) != 0) fail("cannot flush", errno);
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) fail("cannot close", errno);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    throw IoError(fmt::format("cannot write '{}': renaming '{}' over it failed: {}", path_, tmp_,
                              errno_message(err)));
  }
  committed_ = true;
  // Make the rename itself durable. The new file is in place whatever happens here, and some
  // file systems cannot sync a directory, so a failure is not reported.
  const int dir = ::open(parent_directory(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace knnx::detail
