// throws_naming: a gtest predicate for the typed errors of knnx, checking the type and that the
// message names what it should.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <vector>

namespace knnx::test {

// Passes when f throws exactly an E (or a subclass) whose message contains every needle.
template <typename E, typename F>
::testing::AssertionResult throws_naming(F&& f, std::vector<std::string> needles) {
  try {
    f();
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const std::string& needle : needles) {
      if (msg.find(needle) == std::string::npos) {
        return ::testing::AssertionFailure()
               << "message \"" << msg << "\" lacks \"" << needle << "\"";
      }
    }
    return ::testing::AssertionSuccess() << msg;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw another type: " << e.what();
  } catch (...) {
    return ::testing::AssertionFailure() << "threw a non-std exception";
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace knnx::test
