// The streaming JSON writer's number forms that readers depend on.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "json_out.h"
}

namespace {

std::string written(void (*write)(json_out *))
{
    char *buf = nullptr;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_out j;
    json_init(&j, f, 0);
    write(&j);
    fclose(f);
    std::string s(buf, len);
    free(buf);
    return s;
}

TEST(JsonOut, NanosecondsAsExactMicroseconds)
{
    // a wall-clock time in ns: as a double in microseconds it would keep a quarter microsecond
    EXPECT_EQ(written([](json_out *j) {
                  json_array_begin(j, nullptr);
                  json_ns_as_us(j, nullptr, 1764151234567890123ull);
                  json_ns_as_us(j, nullptr, 1764151234567890001ull);
                  json_ns_as_us(j, nullptr, 5000);
                  json_ns_as_us(j, nullptr, 0);
                  json_ns_as_us(j, nullptr, 999);
                  json_ns_as_us(j, nullptr, UINT64_MAX);
                  json_array_end(j);
              }),
              "[1764151234567890.123,1764151234567890.001,5,0,0.999,18446744073709551.615]");
}

} // namespace
