#include "hba_core.h"

namespace iscsi_hba {
// First commit: the API only; the bodies land in the next commits.
}  // namespace iscsi_hba
