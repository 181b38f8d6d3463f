/**
 * @file topic.c
 * @brief A broker's answer to a Metadata request naming a topic that a
 * producer sent to before the cluster had it (KafkaApis.handleTopicMetadataRequest
 * with MetadataCache: a broker answers from the metadata it has replayed,
 * so a topic the controller has just created is UNKNOWN_TOPIC_OR_PARTITION
 * on a broker that has not yet received it).  The model's brokers do not
 * create topics on such a request (auto.create.topics.enable=false); the
 * producer's side is in producer.c.
 */
#include "model.h"

void insync_topic_req(insync_cluster_t *c, int b, insync_msg_t *m) {
        if (m->gp >= (uint32_t)c->nwanted)
                return;
        int t = insync_cluster_topic(c, c->wanted[m->gp]);
        insync_msg_t *r = insync_net_msg(c, INSYNC_M_TOPIC_RESP, b, m->from);
        r->gp = m->gp;
        r->leader = t;
        if (t < 0 || c->br[b].meta[c->topics[t].gp0].epoch < 0)
                r->err = INSYNC_KERR_UNKNOWN_TOPIC_OR_PART;
        insync_net_send(c, r);
}
