/* GPU non-maximum suppression (bitmask kernel), callable from C (lib/nms/gpu_nms.pyx). */
#ifndef FCIS_NMS_KERNEL_H_
#define FCIS_NMS_KERNEL_H_

#ifdef __cplusplus
extern "C" {
#endif

/*
 * boxes_host: (boxes_num, boxes_dim) float32 row-major, columns [x1, y1, x2, y2, ...],
 *             ALREADY SORTED by descending score.
 * keep_out:   (boxes_num,) receives the kept row positions (in the sorted order).
 * num_out:    receives how many entries of keep_out are valid.
 * A box is suppressed when its IoU ("+1" areas) with a kept earlier box is > thresh.
 * Returns 0 on success; otherwise writes a message into err (err_len bytes) and returns 1.
 */
int fcis_gpu_nms(int *keep_out, int *num_out, const float *boxes_host, int boxes_num,
                 int boxes_dim, float thresh, int device_id, char *err, int err_len);

#ifdef __cplusplus
}
#endif

#endif  /* FCIS_NMS_KERNEL_H_ */
