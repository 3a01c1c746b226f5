/*!
 * \file library.cc
 * \brief Entry point of libfcis_ops.so: MXNet calls initialize() from mx.library.load().
 *        The operators register themselves (REGISTER_OP) in their own source files:
 *        PSROIPooling (psroi_pooling/), ChannelOperator (channel_operator/),
 *        SpatialMean (spatial_mean/) and MultiSGDMom (multi_sgd/).
 */
#include "mxnet/lib_api.h"
#include "op_attrs.h"

using mxnet::ext::MXReturnValue;

MXReturnValue initialize(int version) {
  // version = major*10000 + minor*100 + patch; lib_api.h version 11 ships with MXNet 1.9.
  if (version >= 10900) return mxnet::ext::MX_SUCCESS;
  FCIS_ERROR << "libfcis_ops.so needs MXNet >= 1.9.0, this MXNet is version " << version;
  return mxnet::ext::MX_FAIL;
}
