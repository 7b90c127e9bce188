// Stand-in for the Linux syntax check only (see ../README.md): not DriverKit.
#pragma once
#include <stdint.h>
#include <stddef.h>
typedef int kern_return_t;
class OSAction {
 public:
  void retain() {}
  void release() {}
};
#define OSSafeReleaseNULL(p) do { if ((p) != nullptr) (p)->release(); (p) = nullptr; } while (0)
struct mach_timebase_info_data_t { uint32_t numer; uint32_t denom; };
kern_return_t mach_timebase_info(mach_timebase_info_data_t* info);
uint64_t mach_absolute_time();
