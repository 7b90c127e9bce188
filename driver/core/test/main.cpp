#include <cstdio>
#include <exception>

#include "test.h"

int main() {
  // The registry is built in reverse; run in file order for readable output.
  t::Case* order[1024];
  int n = 0;
  for (t::Case* c = t::registry(); c != nullptr && n < 1024; c = c->next) order[n++] = c;
  int passed = 0;
  int failed = 0;
  for (int i = n - 1; i >= 0; --i) {
    try {
      order[i]->fn();
      ++passed;
      std::printf("ok   %s\n", order[i]->name);
    } catch (const t::Failure& f) {
      ++failed;
      std::printf("FAIL %s\n     %s\n", order[i]->name, f.message.c_str());
    } catch (const std::exception& e) {
      ++failed;
      std::printf("FAIL %s\n     exception: %s\n", order[i]->name, e.what());
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
