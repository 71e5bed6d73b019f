/* calhousing_model.h: the calhousing integer-only model as C99, written by
 * `calhousing export --model integer --format c` from
 * $source.
 *
 * Header-only: no heap, no libm, fixed-width integer types. One function scores one row:
 *
 *     double calhousing_predict(const double features[CALHOUSING_N_FEATURES]);
 *
 * features: in feature units, in the order of calhousing_feature_names; finite numbers
 * (a NaN gives code 0). A feature outside its training range saturates at the range's edge
 * (code 0 or CALHOUSING_INPUT_QMAX), as `calhousing predict --model integer` does.
 * Returns: the median house value in units of $$100,000, equal bit for bit to
 * `calhousing predict --model integer` and to the ONNX export in onnxruntime.
 *
 * What is integer and what is not, and why the results are exact:
 * 1. input code a_j = clip(round_half_even((x_j - offset_j) / scale_j), 0, QMAX): one IEEE
 *    double subtraction and one division, each correctly rounded as numpy's are; then the
 *    whole part and the exact fraction pick the code, ties to even (below). Not integer: the
 *    input arrives as a double.
 * 2. acc = B + sum_j q_j a_j: integer only, in calhousing_acc_t.
 * 3. prediction = S * (double)acc: the conversion is exact (|acc| < 2^53) and the product is
 *    one correctly rounded IEEE multiplication, as in Python.
 * No step is a fused multiply-add: no product is added to anything in double, so FMA
 * contraction (off anyway under -std=c99) cannot change a result. The #errors below refuse
 * the settings that would: excess precision (x87) and -ffast-math or its parts. Call it in
 * the default rounding mode, to nearest.
 *
 * Overflow cannot happen, for any input: each code a_j is clipped to 0..$input_qmax before it
 * is used and each weight code satisfies |q_j| <= $weight_qmax, so |q_j a_j| <= $term_bound;
 * every partial sum of acc is B plus some of these terms, so its magnitude is at most
 * sum_j |q_j| x $input_qmax + |B| = $abs_weight_sum x $input_qmax + $abs_bias = $bound
 * <= $acc_max, the largest $acc_type. Products are taken in $acc_type, so they are bounded too.
 */
#ifndef CALHOUSING_MODEL_H
#define CALHOUSING_MODEL_H

#include <float.h>
#include <stdint.h>

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "calhousing_model.h needs double arithmetic without excess precision (on 32-bit x86: -msse2 -mfpmath=sse)"
#endif
#if defined(__FAST_MATH__) || defined(__ASSOCIATIVE_MATH__) || defined(__RECIPROCAL_MATH__) \
    || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__)
#error "calhousing_model.h relies on IEEE double rounding: build it without -ffast-math"
#endif

#define CALHOUSING_N_FEATURES $n_features
#define CALHOUSING_INPUT_BITS $input_bits
#define CALHOUSING_INPUT_QMAX $input_qmax
#define CALHOUSING_WEIGHT_BITS $bits
#define CALHOUSING_INPUT_ZERO_POINT 0  /* code a stands for offset + scale x a: no integer zero point */
#define CALHOUSING_WEIGHT_ZERO_POINT 0 /* symmetric weight codes */
#define CALHOUSING_ACCUMULATOR_BOUND $bound /* the largest |acc|, proved above */
/* The accumulator scale S as TFLite's requantization holds it, for a target without double:
 * S ~= CALHOUSING_SCALE_MULTIPLIER x 2^-CALHOUSING_SCALE_SHIFT, the multiplier in
 * [2^30, 2^31), relative error below 2^-31. calhousing_predict uses the exact double S. */
#define CALHOUSING_SCALE_MULTIPLIER INT32_C($multiplier)
#define CALHOUSING_SCALE_SHIFT $shift

typedef $code_type calhousing_code_t;
typedef $weight_type calhousing_weight_t;
typedef $acc_type calhousing_acc_t;

static const char *const calhousing_feature_names[CALHOUSING_N_FEATURES] = {
$feature_names};
/* Training range of each feature, in feature units; the offsets are the minima. */
static const double calhousing_training_min[CALHOUSING_N_FEATURES] = {
$training_min};
static const double calhousing_training_max[CALHOUSING_N_FEATURES] = {
$training_max};
/* Feature units per input code (hexadecimal: the exact doubles of integer_model.json). */
static const double calhousing_input_scale[CALHOUSING_N_FEATURES] = {
$input_scale};
static const calhousing_weight_t calhousing_weight_codes[CALHOUSING_N_FEATURES] = {
$weight_codes};
static const calhousing_acc_t calhousing_bias_code = $bias_code;
static const double calhousing_accumulator_scale = $accumulator_scale; /* $accumulator_scale_decimal */

/* clip(round_half_even((x - offset) / scale), 0, QMAX), as numpy.rint and polars' half_to_even
 * round. Between 0 and QMAX the conversion truncates to the whole part w, and steps - w is
 * exact (w <= steps < 2w, or w = 0), so comparing it with 1/2 rounds exactly. */
static inline calhousing_code_t calhousing_input_code(double x, int j)
{
    double steps = (x - calhousing_training_min[j]) / calhousing_input_scale[j];
    calhousing_code_t whole;
    double fraction;
    if (!(steps > 0.0)) {
        return 0;
    }
    if (steps >= (double)CALHOUSING_INPUT_QMAX) {
        return CALHOUSING_INPUT_QMAX;
    }
    whole = (calhousing_code_t)steps;
    fraction = steps - (double)whole;
    if (fraction > 0.5 || (fraction == 0.5 && whole % 2 == 1)) {
        ++whole;
    }
    return whole;
}

static inline double calhousing_predict(const double features[CALHOUSING_N_FEATURES])
{
    calhousing_acc_t acc = calhousing_bias_code;
    int j;
    for (j = 0; j < CALHOUSING_N_FEATURES; ++j) {
        acc += (calhousing_acc_t)calhousing_weight_codes[j]
               * (calhousing_acc_t)calhousing_input_code(features[j], j);
    }
    return (double)acc * calhousing_accumulator_scale;
}

#endif /* CALHOUSING_MODEL_H */
