// Everything kiln offers, in one include.
#pragma once

#include "kiln/array.hpp"
#include "kiln/autodiff.hpp"
#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/dtype.hpp"
#include "kiln/error.hpp"
#include "kiln/ir.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"
#include "kiln/shape.hpp"
#include "kiln/trace.hpp"
#include "kiln/tree.hpp"
