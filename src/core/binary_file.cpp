#include "core/binary_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>
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

}  // namespace

// ------------------------------------------------------------------------------------------
// InputFile

InputFile::InputFile(std::string path) : path_(std::move(path)) {
  do {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
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
    throw IoError(fmt::format("cannot read '{}': it is not a regular file", path_));
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
}

InputFile::~InputFile() { ::close(fd_); }

void InputFile::read_at(std::uint64_t offset, void* buffer, std::size_t n) const {
  auto* p = static_cast<char*>(buffer);
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

// ------------------------------------------------------------------------------------------
// AtomicFileWriter

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    throw IoError(fmt::format("cannot write '{}': it is a directory", path_));
  }
  std::random_device entropy;
  int err = 0;
  for (int attempt = 0; attempt < 8 && fd_ < 0; ++attempt) {
    const std::uint64_t r = (std::uint64_t{entropy()} << 32) ^ entropy();
    tmp_ = fmt::format("{}.tmp.{:016x}", path_, r);
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    err = errno;
    if (fd_ < 0 && err != EEXIST && err != EINTR) break;
  }
  if (fd_ < 0) {
    throw IoError(fmt::format("cannot write '{}': cannot create temporary file '{}': {}", path_,
                              tmp_, errno_message(err)));
  }
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
