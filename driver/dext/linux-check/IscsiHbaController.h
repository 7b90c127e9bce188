// Stand-in for iig's generated header, for the Linux syntax check only (see README.md): the one method DextPlatform calls.
#pragma once
#include "SCSIControllerDriverKit/IOUserSCSIParallelInterfaceController.h"
class IscsiHbaController {
 public:
  void CompleteToFamily(OSAction* completion, SCSIUserParallelResponse* response);
};
