// Stand-in for the Linux syntax check only (see ../README.md): not DriverKit.
#pragma once
#include "OSAction.h"
