/**
 * @file topic.c
 * @brief A broker's answer to a Metadata request naming a topic that a
 * producer sent to before the cluster had it (KafkaApis.getTopicMetadata
 * with the broker's metadata cache: a broker answers from the metadata it
 * has replayed, so a topic the controller has just created is
 * UNKNOWN_TOPIC_OR_PARTITION on a broker that has not yet received it).
 *
 * Auto-creation (auto.create.topics.enable, Kafka's default true, and the
 * request's AllowAutoTopicCreation, librdkafka's allow.auto.create.topics):
 * the broker has the topic created (AutoTopicCreationManager: a
 * CreateTopics to the controller, with num.partitions and
 * default.replication.factor) and answers LEADER_NOT_AVAILABLE.  The model
 * creates it at the controller at once (the forwarding hop is left out).
 * Without an active controller, or with default.replication.factor above
 * the brokers, nothing is created and the answer is
 * UNKNOWN_TOPIC_OR_PARTITION (Kafka answers INVALID_REPLICATION_FACTOR for
 * the latter; the model's producer treats both alike).  The producer's
 * side is in producer.c.
 */
#include "model.h"

void insync_topic_req(insync_cluster_t *c, int b, insync_msg_t *m) {
        if (m->gp >= (uint32_t)c->nwanted)
                return;
        uint32_t w = m->gp;
        int from = m->from, allow = m->leader;
        int t = insync_cluster_topic(c, c->wanted[w]);
        int err = 0;
        if (t < 0 && allow && c->conf.auto_create) {
                char e[160];
                if (insync_cluster_create_topic(c, c->wanted[w], c->conf.default_partitions,
                                                c->conf.default_rf, c->conf.min_isr, -1, -1, -1,
                                                NULL, e, sizeof(e)) == 0) {
                        t = insync_cluster_topic(c, c->wanted[w]);
                        err = INSYNC_KERR_LEADER_NOT_AVAILABLE;
                }
        }
        if (!err && (t < 0 || c->br[b].meta[c->topics[t].gp0].epoch < 0))
                err = INSYNC_KERR_UNKNOWN_TOPIC_OR_PART;
        insync_msg_t *r = insync_net_msg(c, INSYNC_M_TOPIC_RESP, b, from);
        r->gp = w;
        r->leader = t;
        r->err = err;
        insync_net_send(c, r);
}
