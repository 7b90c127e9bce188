// A small self-contained test runner: TEST(name) { ... CHECK(cond); CHECK_EQ(a, b); }. main.cpp runs every test and
// prints "N passed, N failed" (the line driver-core.test.ts reads). A failed CHECK ends its test, not the run.
#pragma once

#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>

namespace t {

struct Failure {
  std::string message;
};

using Fn = void (*)();
struct Case {
  const char* name;
  Fn fn;
  Case* next;
};
inline Case*& registry() {
  static Case* head = nullptr;
  return head;
}
struct Register {
  Register(Case* c) {
    c->next = registry();
    registry() = c;
  }
};

template <typename A, typename B>
void check_eq(const A& a, const B& b, const char* as, const char* bs, const char* file, int line) {
  if (!(a == b)) {
    std::ostringstream o;
    o << file << ":" << line << ": CHECK_EQ(" << as << ", " << bs << "): " << +a << " != " << +b;
    throw Failure{o.str()};
  }
}

}  // namespace t

#define T_CAT2(a, b) a##b
#define T_CAT(a, b) T_CAT2(a, b)
#define TEST(name)                                                           \
  static void T_CAT(test_fn_, __LINE__)();                                   \
  static t::Case T_CAT(test_case_, __LINE__){name, T_CAT(test_fn_, __LINE__), nullptr}; \
  static t::Register T_CAT(test_reg_, __LINE__){&T_CAT(test_case_, __LINE__)};          \
  static void T_CAT(test_fn_, __LINE__)()

#define CHECK(cond)                                                                                    \
  do {                                                                                                 \
    if (!(cond)) throw t::Failure{std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": CHECK(" #cond ")"}; \
  } while (0)
#define CHECK_EQ(a, b) t::check_eq((a), (b), #a, #b, __FILE__, __LINE__)
