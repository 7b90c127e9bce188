// Stand-in for iig's generated header, for the Linux syntax check only (see README.md): the one method DextPlatform calls.
#pragma once
#include <stdint.h>
#include "DriverKit/OSAction.h"
class IscsiHbaUserClient {
 public:
  void SendNotice(OSAction* action, uint32_t kinds, uint32_t cmdProducer);
};
