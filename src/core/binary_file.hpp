// core/binary_file.hpp — POSIX file access for knnx's binary formats: a regular file read at
// offsets, and a file written beside its target and renamed over it.
//
// InputFile refuses what cannot be a data file (missing, unreadable, a directory, a device, a
// FIFO or socket — opened without blocking, so a FIFO with no writer cannot hang it) with
// IoError, and reports a read past the end — the file shrank after it was opened — as
// FormatError. AtomicFileWriter writes "<name>.tmp.<16 hex digits>" beside the target (<name>
// shortened so the temporary name fits NAME_MAX), and commit() flushes it to disk, renames it
// over <path> and syncs the directory; until commit() succeeds the target is untouched, and a
// writer destroyed without committing deletes its temporary file. A crash at any point leaves
// either the old file or the new one at <path>, never a mixture; the temporary file of a writer
// that was killed is removed by the next write to the same path (it is recognised by its name,
// no lock held on it and no change for 10 s). Writing through a symbolic link writes the file
// the link points to (the link stays); a path that exists and is not a regular file is refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace knnx::detail {

// InvalidArgument when path is empty or holds a NUL character (which the OS would cut it at).
void check_path(const std::string& path);

class InputFile {
 public:
  // IoError when path cannot be opened for reading or is not a regular file.
  explicit InputFile(std::string path);
  // Bytes [offset, offset + size) of outer (which must hold them) as a file of its own, named
  // name in messages: a file nested in a section of another. It reads through its own handle,
  // so it may outlive outer.
  InputFile(const InputFile& outer, std::uint64_t offset, std::uint64_t size, std::string name);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  // The size when the file was opened.
  std::uint64_t size() const { return size_; }

  // Reads exactly n bytes at offset (IoError on a read error, FormatError when the file ends
  // first).
  void read_at(std::uint64_t offset, void* buffer, std::size_t n) const;

  // Bytes [offset, offset + size) (size >= 1) mapped read-only into memory, mapped for as long
  // as the returned pointer (or a copy) lives. The bytes are checked against the file as it is
  // now, before mapping: FormatError when they run past its end (a file that shrank since it
  // was opened; reading such a mapping would fault), IoError when the system refuses the
  // mapping. The file must not be shortened while mapped.
  std::shared_ptr<const std::uint8_t> map(std::uint64_t offset, std::uint64_t size) const;

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t base_ = 0;  // where this file starts in the open one (nested files)
  bool nested_ = false;
  std::uint64_t size_ = 0;
};

class AtomicFileWriter {
 public:
  // Creates the temporary file; IoError when it cannot be created or path is a directory.
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }
  // Bytes written so far (the offset the next write() lands at).
  std::uint64_t position() const { return position_; }

  // Appends n bytes (buffered); IoError when the file system refuses them.
  void write(const void* data, std::size_t n);
  void write_zeros(std::size_t n);
  // Replaces n already written bytes at offset (e.g. a header whose checksums are known last).
  void overwrite(std::uint64_t offset, const void* data, std::size_t n);

  // Flushes and fsyncs the temporary file, renames it over path and fsyncs the directory.
  // IoError when any step but the last fails (the temporary file is then removed, the target
  // keeps its old contents).
  void commit();

 private:
  [[noreturn]] void fail(const char* what, int err) const;
  void flush();
  void write_fd(const std::uint8_t* p, std::size_t n);

  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  bool committed_ = false;
  std::uint64_t position_ = 0;
  std::vector<std::uint8_t> buffer_;
};

}  // namespace knnx::detail
