"""Every configuration key of FCIS with its default value.

The key names are the original FCIS ones. A YAML file (``experiments/fcis/cfgs/*.yaml``)
overrides these values and may not introduce new keys; ``fcis.config.config`` does the
merging and checking. Values derived from others (``network.NUM_ANCHORS``) are computed
there, never typed in a YAML.
"""
from easydict import EasyDict as edict


def default_config():
    """Return a fresh EasyDict holding every key with its default value."""
    config = edict()

    config.MXNET_VERSION = ''            # informational: the MXNet version the config was written for
                                         # (another than the running one: one warning line)
    config.output_path = './output'      # root of all outputs: <output_path>/<cfg name>/<image_set>/
    config.symbol = 'resnet_v1_101_fcis' # symbol name, recorded in logs and outputs
    config.gpus = ''                     # comma-separated GPU ids ('0,1,2,3'); empty = CPU
    config.num_cpu_devices = 1           # number of CPU contexts when gpus is empty (data-parallel on CPU)
    config.CLASS_AGNOSTIC = True         # only true: FCIS boxes are class-agnostic (4*2 box channels)
    config.SCALES = [(600, 1000)]        # (shorter side, max longer side) for training and testing
    config.cfg_file = ''                 # set by load_config: the YAML file the run was configured with
    config.cfg_name = 'default'          # set by load_config: that file's name without extension
    config.seed = 3                      # seed of NumPy, MXNet and Python random generators

    # --- general run options -------------------------------------------------------
    config.default = edict()
    config.default.frequent = 20         # log training metrics every N batches
    config.default.kvstore = 'device'    # 'device', 'local', 'dist_sync', 'dist_device_sync'
    config.default.ADAPT_THREADS = False # fewer OpenMP threads while other processes use the
                                         # cores (lib/utils/thread_governor.py; NaiveEngine only);
                                         # a change of thread count changes the bits from then on
    config.default.LOCAL_WORKERS = 1     # training processes on this machine (N > 1: one CPU device
                                         # and cores / N threads each, each on its own images of
                                         # every batch of N, gradients exchanged before every
                                         # update as LOCAL_UPDATE says; fcis/core/local_workers.py)
    config.default.LOCAL_UPDATE = 'sum'  # with LOCAL_WORKERS > 1: 'sum' = one update with the
                                         # summed gradients (N devices' arithmetic); 'each' = one
                                         # update per worker's gradient, in rank order (one
                                         # device's update count; a gradient is up to N - 1
                                         # updates old when applied)

    # --- network -------------------------------------------------------------------
    config.network = edict()
    config.network.depth = 101           # ResNet-v1 depth 50, 101 or 152: units per stage (unless
                                         # TRUNK_UNITS) and layer names (fcis/symbols/resnet_v1.py)
    config.network.TRUNK_FILTERS = []    # small trunk only: filters of conv1, res2..res5 ([] = ResNet's)
    config.network.TRUNK_UNITS = []      # small trunk only: bottleneck units per stage ([] = from depth)
    config.network.STRIDE_IN_1X1 = True  # Caffe-style stride on the first 1x1 conv (False: on the 3x3)
    config.network.STEM_KERNEL = 7       # side of conv1 (odd, stride 2, padding side // 2); 7 = ResNet's
    config.network.STEM_POOL = True      # max pooling pool1 after conv1 (ResNet's); False: no pool1,
                                         # feature stride 8 (set RPN_/RCNN_FEAT_STRIDE to 8)
    config.network.BN_USE_GLOBAL_STATS = True  # freeze BatchNorm statistics (pretrained trunk)
    config.network.FUSE_BN_RELU = True   # on CPU devices with oneDNN, each BatchNorm + ReLU pair
                                         # of the trunk is one contrib.BatchNormWithReLU (same
                                         # bits, faster backward); elsewhere two operators
    config.network.pretrained = ''       # prefix of the pretrained .params ('' = train from scratch)
    config.network.pretrained_epoch = 0  # epoch number of the pretrained .params file
    config.network.PIXEL_MEANS = [103.06, 115.90, 123.15]  # BGR means subtracted from images
    config.network.IMAGE_STRIDE = 0      # pad images to a multiple of this (0 = no padding)
    config.network.RPN_FEAT_STRIDE = 16  # stride of the RPN feature map (res4)
    config.network.RCNN_FEAT_STRIDE = 16 # stride of the FCIS score maps (res5, dilated)
    config.network.FIXED_PARAMS = ['conv1', 'bn_conv1', 'res2', 'bn2', 'gamma', 'beta']  # name prefixes not trained
    config.network.FIXED_PARAMS_MATCH_SUFFIX = False  # also freeze names ending in '_' + an entry
                                         # (then 'gamma'/'beta' freeze every BatchNorm scale/shift)
    config.network.ANCHOR_SCALES = (8, 16, 32)   # anchor sizes in units of RPN_FEAT_STRIDE
    config.network.ANCHOR_RATIOS = (0.5, 1, 2)   # anchor aspect ratios (h / w)
    config.network.RPN_ANCHOR_GRID = 'image'  # proposals from anchors on 'image': int(h/16) x
                                         # int(w/16) cells of the (unpadded) input, the score map
                                         # cropped to it; 'feature': every cell of the score map
    config.network.RPN_MIN_SIZE_SCALED = False  # RPN_MIN_SIZE x image scale (False: input pixels)
    config.network.BBOX_DELTA_CLIP = False  # clip dw, dh at log(1000/16) before exp (proposals,
                                         # test-time box parser)
    config.network.NUM_ANCHORS = 9       # derived: len(ANCHOR_SCALES) * len(ANCHOR_RATIOS); a value
                                         # given in a YAML or an override must equal it
    config.network.PSROI_GROUP_SIZE = 7  # k: position-sensitive grid is k x k
    config.network.PSROI_POOLED_SIZE = 21  # side of the assembled per-ROI score maps
    config.network.CONV_NEW_CHANNELS = 1024  # channels of conv_new_1 on res5
    config.network.CONV_NEW_LR_MULT = 3.0    # lr multiplier of conv_new_1 (weight and bias)
    config.network.RPN_CONV_CHANNELS = 512   # channels of the RPN 3x3 conv
    config.network.FCIS_CLS_SEG_LR_MULT = 1.0  # lr multiplier of fcis_cls_seg: the class score averages
                                         # k*k group votes, so each group's weights get 1/k^2 of the gradient
    config.network.MSRA_INIT_LAYERS = []  # new layers (heads.NEW_LAYERS names) initialized He-normal
                                         # std sqrt(2/fan_in) instead of N(0, 0.01) (from-scratch training)

    # --- dataset -------------------------------------------------------------------
    config.dataset = edict()
    config.dataset.dataset = 'coco'          # 'coco', 'sds' (PASCAL VOC SDS / SBD) or 'shapes'
    config.dataset.image_set = 'train2014'   # training set(s), joined with '+'
    config.dataset.test_image_set = 'val2014'  # evaluation set
    config.dataset.root_path = './data'      # where caches are written
    config.dataset.dataset_path = './data/coco'  # dataset folder (layout in data/README.md)
    # Annotation files and image folders of COCO-format sets (dataset coco or shapes), for data
    # in any other layout. A '+'-joined list matches image_set / test_image_set part by part;
    # '' (or an empty part) is the default layout: <dataset_path>/annotations/instances_<set>.json
    # and <dataset_path>/images/<set>/ (images/val2014/ for minival2014 etc.). An image root
    # given once serves every part. Example (both splits' images in one flat folder):
    # train_annotation_file: /data/mine/train.json, test_annotation_file: /data/mine/val.json,
    # train_image_root: /data/mine/images, test_image_root: /data/mine/images.
    config.dataset.train_annotation_file = ''  # annotation json(s) of image_set
    config.dataset.train_image_root = ''     # folder(s) the file_names of image_set are read from
    config.dataset.test_annotation_file = ''   # annotation json of test_image_set
    config.dataset.test_image_root = ''      # folder the file_names of test_image_set are read from
    config.dataset.CHECK_IMAGES = True       # before training/testing, read the first and last
                                             # bytes of every image (missing, truncated or not an
                                             # image: an error naming the file); false skips it
    config.dataset.NUM_CLASSES = 81          # classes including background; checked against the data
    config.dataset.num_train_images = 400    # shapes only: images generated for the train split
    config.dataset.num_val_images = 60       # shapes only: images generated for the val split

    # --- training ------------------------------------------------------------------
    config.TRAIN = edict()
    config.TRAIN.lr = 0.0005             # base learning rate (gradient summed over devices)
    config.TRAIN.lr_policy = 'step'      # 'step': lr x lr_factor at each lr_step (the release's);
                                         # 'linear': after the warmup lr falls linearly to
                                         # ~0 at the last update (lr_step, lr_factor unused)
    config.TRAIN.lr_step = '5.33'        # epochs after which lr is multiplied by lr_factor (comma list)
    config.TRAIN.lr_factor = 0.1         # multiplicative lr decay at each lr_step
    config.TRAIN.warmup = False          # warmup: constant warmup_lr for the first warmup_step iterations
    config.TRAIN.warmup_lr = 0.00005     # learning rate during warmup
    config.TRAIN.warmup_step = 250       # number of warmup iterations
    config.TRAIN.momentum = 0.9          # SGD momentum
    config.TRAIN.wd = 0.0005             # weight decay of *_weight (and *_gamma: WD_GAMMA)
    config.TRAIN.WD_GAMMA = True         # also decay BatchNorm scales (MXNet's stock SGD rule)
    config.TRAIN.clip_gradient = 0       # clip each gradient element to +-value (0 = off)
    config.TRAIN.begin_epoch = 0         # first epoch (0 = from the start)
    config.TRAIN.end_epoch = 8           # train until this epoch (exclusive count of epochs)
    config.TRAIN.model_prefix = 'e2e'    # checkpoint file prefix inside the output folder
    config.TRAIN.RESUME = False          # resume from the last complete checkpoint in the output folder
    config.TRAIN.FLIP = True             # add horizontally flipped images
    config.TRAIN.SHUFFLE = True          # shuffle images each epoch
    config.TRAIN.ASPECT_GROUPING = True  # batch images of the same orientation together
    config.TRAIN.SIZE_GROUPING = False   # and of the same input size (else the nearest) at the
                                         # first scale: equal work for the devices and
                                         # LOCAL_WORKERS sharing a batch
    config.TRAIN.BATCH_IMAGES = 1        # images per device (only 1, as the release)
    config.TRAIN.ENABLE_OHEM = False     # online hard example mining over all ROIs
    config.TRAIN.BATCH_ROIS = 128        # ROIs per image without OHEM (-1 = all)
    config.TRAIN.BATCH_ROIS_OHEM = 128   # ROIs per image that back-propagate with OHEM
    config.TRAIN.FG_FRACTION = 0.25      # fraction of foreground ROIs (without OHEM)
    config.TRAIN.ROI_SAMPLING = 'release'  # 'release': BATCH_ROIS -1 keeps every proposal + GT
                                         # box, missing ROIs drawn without replacement from the
                                         # non-foreground ones; 'capped': foreground capped at
                                         # FG_FRACTION also with -1, padding drawn with
                                         # replacement from the background pool
    config.TRAIN.GAP_SELECT_FROM_ALL = False  # 'release' padding drawn from all ROIs instead
    config.TRAIN.FG_THRESH = 0.5         # IoU with a GT box for a foreground ROI
    config.TRAIN.BG_THRESH_HI = 0.5      # background ROIs have IoU in [BG_THRESH_LO, BG_THRESH_HI)
    config.TRAIN.BG_THRESH_LO = 0.0      # (0.1 for VOC, 0.0 for COCO)
    config.TRAIN.BINARY_THRESH = 0.4     # mask targets: resized GT mask binarized at this value
    config.TRAIN.LOSS_WEIGHTS = [1.0, 10.0, 1.0]  # weights of (class, mask, box) losses
    config.TRAIN.SEG_LOSS_REDUCTION = 'mean'  # mask loss over the 21x21 pixels of a positive ROI: 'mean'
                                         # (the original release's numbers) or 'sum'; x LOSS_WEIGHTS[1] / ROIs
    config.TRAIN.BBOX_NORMALIZATION_PRECOMPUTED = True  # normalize box targets by BBOX_MEANS/STDS
    config.TRAIN.BBOX_MEANS = [0.0, 0.0, 0.0, 0.0]  # means of the box regression targets
    config.TRAIN.BBOX_STDS = [0.2, 0.2, 0.5, 0.5]   # stds of the box regression targets
    config.TRAIN.BBOX_WEIGHTS = [1.0, 1.0, 1.0, 1.0]  # only these: box targets of foreground ROIs
                                         # weigh 1 (LOSS_WEIGHTS[2] scales the box loss)
    config.TRAIN.RPN_BATCH_SIZE = 256    # anchors sampled per image for the RPN loss
    config.TRAIN.RPN_FG_FRACTION = 0.5   # fraction of foreground anchors
    config.TRAIN.RPN_POSITIVE_OVERLAP = 0.7  # IoU for a foreground anchor
    config.TRAIN.RPN_NEGATIVE_OVERLAP = 0.3  # IoU below which an anchor is background
    config.TRAIN.RPN_CLOBBER_POSITIVES = False  # let negatives override positives
    config.TRAIN.RPN_MATCH_ZERO_OVERLAP_GT = True  # a GT box overlapping no anchor makes every
                                         # anchor of IoU 0 with it foreground (the release's rule)
    config.TRAIN.RPN_ALLOWED_BORDER = 0  # anchors crossing the border by more are ignored
    config.TRAIN.RPN_BBOX_WEIGHTS = [1.0, 1.0, 1.0, 1.0]  # only these: box targets of foreground
                                         # anchors weigh 1
    config.TRAIN.RPN_POSITIVE_WEIGHT = -1.0  # only -1: uniform weighting of RPN samples
    config.TRAIN.RPN_NMS_THRESH = 0.7    # NMS of proposals during training
    config.TRAIN.RPN_PRE_NMS_TOP_N = 6000  # proposals kept before NMS
    config.TRAIN.RPN_POST_NMS_TOP_N = 300  # proposals kept after NMS
    config.TRAIN.RPN_MIN_SIZE = 0        # minimum proposal side in input pixels (0 = RPN_FEAT_STRIDE)
    config.TRAIN.CXX_PROPOSAL = False    # use contrib.Proposal instead of the Python proposal op

    # --- testing -------------------------------------------------------------------
    config.TEST = edict()
    config.TEST.BATCH_IMAGES = 1         # images per device at test time (only 1)
    config.TEST.SCALES = []              # (shorter side, max longer side) of test images; [] = the
                                         # first pair of SCALES (the release's rule)
    config.TEST.HAS_RPN = True           # only true: proposals come from the RPN
    config.TEST.RPN_NMS_THRESH = 0.7     # NMS of proposals
    config.TEST.RPN_PRE_NMS_TOP_N = 6000 # proposals kept before NMS
    config.TEST.RPN_POST_NMS_TOP_N = 300 # proposals kept after NMS (ROIs of the first pass)
    config.TEST.RPN_MIN_SIZE = 0         # minimum proposal side (0 = RPN_FEAT_STRIDE)
    config.TEST.CXX_PROPOSAL = False     # use contrib.Proposal instead of the Python proposal op
    config.TEST.BN_IMAGE_STATS = False   # trunk BatchNorms use each test image's own statistics (as in
                                         # training with BN_USE_GLOBAL_STATS false, 1 image/device) instead
                                         # of the moving averages
    config.TEST.ITER = 2                 # 2: regressed boxes of the first pass are ROIs of a second
    config.TEST.MIN_DROP_SIZE = 2        # drop ROIs with a side smaller than this (0 = keep all)
    config.TEST.MIN_DROP_MODE = 'release'  # 'release': MIN_DROP_SIZE in input (resized) pixels,
                                         # applied only with ITER 2 (as FCIS); 'original': in
                                         # original-image pixels, with any ITER
    config.TEST.NMS = 0.3                # per-class NMS threshold
    config.TEST.USE_MASK_MERGE = True    # mask voting instead of plain NMS
    config.TEST.USE_GPU_MASK_MERGE = False  # mask voting on the GPU (CUDA builds only)
    config.TEST.MASK_MERGE_THRESH = 0.5  # box IoU of the ROIs voting for a kept detection
    config.TEST.MASK_VOTE_MODE = 'release'  # 'release' (as FCIS): every ROI with IoU >= MASK_MERGE_THRESH
                                         # votes, weights = its class score / their sum, over the
                                         # whole image of round(input size / scale); the box is the
                                         # tight box of the vote >= BINARY_THRESH (centre pixel when
                                         # empty), the mask the vote resized to 21x21 and back; per
                                         # class max_per_image after NMS, then one threshold: the
                                         # max_per_image-th best score, at least SCORE_THRESH (ties
                                         # kept). 'roi': ROIs scoring > SCORE_THRESH vote inside the
                                         # kept ROI, which is the box; the max_per_image best stay
    config.TEST.BINARY_THRESH = 0.4      # mask probability threshold
    config.TEST.SCORE_THRESH = 0.001     # minimum class score of a detection (MASK_VOTE_MODE release:
                                         # the least value of the per-image score threshold)
    config.TEST.max_per_image = 100      # detections kept per image
    config.TEST.test_epoch = 8           # epoch of the model to test
    config.TEST.VIS_NUM = 8              # number of test images drawn as pictures (0 = none)
    config.TEST.VIS_THRESH = 0.5         # score threshold of drawn detections
    return config
