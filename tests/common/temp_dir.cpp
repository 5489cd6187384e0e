// temp_dir.cpp - see temp_dir.h.
#include "temp_dir.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace fmtestcommon {

TempDir::TempDir(const std::string &prefix)
{
    std::error_code ec;
    std::filesystem::path base = std::filesystem::temp_directory_path(ec);
    if (ec)
        base = "/tmp";
    std::string templ = (base / (prefix + "-XXXXXX")).string();
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data()))
        throw std::runtime_error("mkdtemp failed for " + templ);
    char real[PATH_MAX];
    dir_ = realpath(buf.data(), real) ? real : buf.data();
}

TempDir::~TempDir()
{
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (ec)
        fprintf(stderr, "could not remove %s: %s\n", dir_.c_str(), ec.message().c_str());
}

} // namespace fmtestcommon
