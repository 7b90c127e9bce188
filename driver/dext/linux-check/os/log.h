// Stand-in for the Linux syntax check only (see ../README.md): not Apple's os/log.h.
#pragma once
#include <stdio.h>
typedef int os_log_type_t;
#define OS_LOG_TYPE_DEFAULT 0
#define OS_LOG_TYPE_INFO 1
#define OS_LOG_TYPE_DEBUG 2
#define OS_LOG_TYPE_ERROR 16
#define OS_LOG_DEFAULT 0
// Apple's format adds privacy annotations such as %{public}s; they are not checked here.
template <typename... Args> inline void os_log_stand_in(Args&&...) {}
#define os_log_with_type(...) os_log_stand_in(__VA_ARGS__)
#define os_log(...) os_log_stand_in(__VA_ARGS__)
