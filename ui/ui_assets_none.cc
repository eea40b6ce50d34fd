// The console's files when berthd is built without it (-DBERTH_UI=OFF): none.
#include "api/ui_assets.h"

namespace berth::api {

std::span<const UiAsset> UiAssets() { return {}; }

}  // namespace berth::api
