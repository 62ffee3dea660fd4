#pragma once

#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <string>

// Expects `statement` to throw a c10::Error whose message contains every one of `parts`.
#define STATMECH_EXPECT_ERROR(statement, ...)                                          \
  do {                                                                                 \
    bool statmech_threw_ = false;                                                      \
    try {                                                                              \
      statement;                                                                       \
    } catch (const c10::Error& e) {                                                    \
      statmech_threw_ = true;                                                          \
      const std::string message = e.what_without_backtrace();                          \
      for (const std::string part : {__VA_ARGS__}) {                                   \
        EXPECT_NE(message.find(part), std::string::npos)                               \
            << "message does not mention \"" << part << "\":\n" << message;            \
      }                                                                                \
    }                                                                                  \
    EXPECT_TRUE(statmech_threw_) << "expected an error from: " #statement;            \
  } while (0)
