// Hostile paths and file-system faults around knnx's files: non-regular files refused without
// blocking, NUL in a path, names at NAME_MAX, saving through symbolic links, and temporary files
// of killed writers reclaimed; a file that shrank before its bytes are mapped.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <utime.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "core/binary_file.hpp"
#include "temp_dir.hpp"
#include "knnx/error.hpp"
#include "knnx/vector_io.hpp"

namespace knnx {
namespace {

namespace fs = std::filesystem;

// Each test's files live in a directory of their own.
class TempDir : public test::TempDir {
 public:
  TempDir() : test::TempDir("knnx_faults") {}
};

Matrix<float> small_matrix() {
  Matrix<float> m;
  m.rows = 2;
  m.cols = 3;
  m.data = {1, 2, 3, 4, 5, 6};
  return m;
}

// Runs f on another thread and fails (instead of hanging the suite) when it takes over 20 s.
template <typename F>
std::string error_within_deadline(F f) {
  auto result = std::async(std::launch::async, [f] {
    try {
      f();
    } catch (const IoError& e) {
      return std::string(e.what());
    } catch (const std::exception& e) {
      return std::string("unexpected exception: ") + e.what();
    }
    return std::string("no exception");
  });
  if (result.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "the call blocked";
    std::_Exit(1);  // the blocked thread cannot be joined
  }
  return result.get();
}

TEST(FileFaults, FifoIsRefusedWithoutBlockingByEveryLoader) {
  TempDir dir;
  const std::string fifo = dir.file("pipe.fvecs");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const auto& load : std::initializer_list<std::function<void()>>{
           [&] { read_fvecs(fifo); }, [&] { read_ivecs(fifo); }, [&] { read_bvecs(fifo); },
           [&] { read_npy(fifo); }, [&] { read_vectors(fifo); },
           [&] { detail::InputFile f(fifo); }}) {
    const std::string msg = error_within_deadline(load);
    EXPECT_NE(msg.find("not a regular file (a FIFO)"), std::string::npos) << msg;
  }
}

TEST(FileFaults, DevicesSocketsAndDirectoriesAreRefused) {
  TempDir dir;
  EXPECT_NE(error_within_deadline([] { read_fvecs("/dev/null"); }).find("character device"),
            std::string::npos);
  EXPECT_NE(error_within_deadline([] { read_npy("/dev/zero"); }).find("character device"),
            std::string::npos);
  EXPECT_NE(error_within_deadline([&] { read_fvecs(dir.file("")); }).find("directory"),
            std::string::npos);
  const std::string sock = dir.file("s.fvecs");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_NE(error_within_deadline([&] { read_fvecs(sock); }).find("socket"), std::string::npos);
  ::close(fd);
  // Writing over something that is not a regular file is refused too.
  EXPECT_THROW(write_fvecs("/dev/full", small_matrix()), IoError);
}

TEST(FileFaults, NulInAPathIsAnInvalidArgument) {
  const std::string path("data\0.fvecs", 11);
  try {
    read_fvecs(path);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("NUL character at position 4"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(write_fvecs(path, small_matrix()), InvalidArgument);
  EXPECT_THROW(read_fvecs(""), InvalidArgument);
}

TEST(FileFaults, NamesUpToNameMaxCanBeSaved) {
  TempDir dir;
  for (std::size_t len : {200, 245, 255}) {
    const std::string name = std::string(len - 6, 'n') + ".fvecs";
    write_fvecs(dir.file(name), small_matrix());
    EXPECT_EQ(read_fvecs(dir.file(name)).data, small_matrix().data) << len;
  }
  EXPECT_EQ(dir.count(), 3u) << "no temporary file is left";
}

TEST(FileFaults, SavingThroughASymlinkWritesItsTarget) {
  TempDir dir;
  fs::create_directory(dir.file("real"));
  const std::string target = dir.file("real/data.fvecs");
  write_fvecs(target, small_matrix());
  ASSERT_EQ(::symlink("real/data.fvecs", dir.file("link.fvecs").c_str()), 0);  // relative
  ASSERT_EQ(::symlink(dir.file("link.fvecs").c_str(), dir.file("link2.fvecs").c_str()), 0);
  Matrix<float> m = small_matrix();
  m.data[0] = 42;
  write_fvecs(dir.file("link2.fvecs"), m);
  EXPECT_TRUE(fs::is_symlink(dir.file("link.fvecs")));
  EXPECT_TRUE(fs::is_symlink(dir.file("link2.fvecs")));
  EXPECT_EQ(read_fvecs(target).data[0], 42.0f);
  // A dangling link is created as its target.
  ASSERT_EQ(::symlink("real/new.fvecs", dir.file("dangling.fvecs").c_str()), 0);
  write_fvecs(dir.file("dangling.fvecs"), m);
  EXPECT_TRUE(fs::is_regular_file(dir.file("real/new.fvecs")));
  EXPECT_TRUE(fs::is_symlink(dir.file("dangling.fvecs")));
}

TEST(FileFaults, TemporaryFilesOfKilledWritersAreReclaimed) {
  TempDir dir;
  const std::string target = dir.file("x.fvecs");
  auto make_temp = [&](const char* hex, bool old) {
    const std::string p = target + ".tmp." + hex;
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT, 0600);
    EXPECT_GE(fd, 0);
    ::close(fd);
    if (old) {
      const utimbuf times{::time(nullptr) - 3600, ::time(nullptr) - 3600};
      ::utime(p.c_str(), &times);
    }
    return p;
  };
  const std::string stale = make_temp("00000000deadbeef", true);
  const std::string fresh = make_temp("00000000feedf00d", false);  // a writer may be at work
  const std::string locked = make_temp("0000000012345678", true);
  const int holder = ::open(locked.c_str(), O_RDONLY);  // a live writer holds its lock
  ASSERT_EQ(::flock(holder, LOCK_EX), 0);
  const std::string unrelated = dir.file("y.fvecs.tmp.00000000deadbeef");
  make_temp("0", true);  // not a temporary name: kept
  {
    const int fd = ::open(unrelated.c_str(), O_WRONLY | O_CREAT, 0600);
    ::close(fd);
  }
  write_fvecs(target, small_matrix());
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh));
  EXPECT_TRUE(fs::exists(locked));
  EXPECT_TRUE(fs::exists(unrelated));
  EXPECT_TRUE(fs::exists(target + ".tmp.0"));
  ::close(holder);
}

// InputFile::map checks the bytes against the file as it is when mapping, so a file that shrank
// since it was opened is a FormatError instead of a fault when the mapping is read.
TEST(FileFaults, MappingChecksTheBytesPresentNow) {
  TempDir dir;
  const std::string path = dir.file("bytes.bin");
  const std::vector<char> bytes(8192, 7);
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const detail::InputFile f(path);
  EXPECT_EQ(f.map(100, 8000).get()[0], 7);
  ASSERT_EQ(::truncate(path.c_str(), 4096), 0);
  EXPECT_THROW(f.map(64, 8000), FormatError);
  EXPECT_EQ(f.map(64, 4000).get()[3999], 7);
}

}  // namespace
}  // namespace knnx
