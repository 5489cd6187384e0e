// temp_dir.h - a scratch directory for a test, shared by the test suites (unit, hook, run).
#ifndef FM_TEST_TEMP_DIR_H
#define FM_TEST_TEMP_DIR_H

#include <string>

namespace fmtestcommon {

// A fresh directory under $TMPDIR (or /tmp), named by its real path (no symbolic link in it,
// so that it compares equal to the paths programs print), removed with its contents when the
// object goes away. Throws std::runtime_error when it cannot be made.
class TempDir {
  public:
    explicit TempDir(const std::string &prefix = "flopmeter-test");
    ~TempDir();
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    std::string path(const std::string &name) const { return dir_ + "/" + name; }
    const std::string &dir() const { return dir_; }

  private:
    std::string dir_;
};

} // namespace fmtestcommon

#endif
