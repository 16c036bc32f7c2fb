import { useCallback, useEffect, useState } from "react";
import { App, Button, Card, Input, Modal, Select, Space, Table } from "antd";
import type { ColumnsType } from "antd/es/table";
import { api, errorText } from "../api/client";
import type { User, UserStatus } from "../api/types";
import { useT } from "../i18n";
import StatusTag from "../components/StatusTag";
import { rowProps } from "../components/rowProps";

type Filter = UserStatus | "all";

function RejectDialog({ user, onClose, onDone }: { user: User | null; onClose: () => void; onDone: () => void }) {
  const { tr } = useT();
  const { message } = App.useApp();
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => setReason(""), [user]);
  const submit = async () => {
    if (!user) return;
    setBusy(true);
    try {
      await api("POST", `/api/admin/users/${user.id}/review`, { decision: "reject", reason: reason.trim() });
      message.success(tr("已拒绝", "Rejected"));
      onDone();
    } catch (e) {
      message.error(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal
      open={user !== null}
      title={`${tr("拒绝", "Reject")} ${user?.email ?? ""}`}
      onCancel={onClose}
      onOk={submit}
      okButtonProps={{ disabled: !reason.trim(), loading: busy, danger: true, ...{ "data-testid": "admin-reject-confirm" } }}
      okText={tr("拒绝", "Reject")}
    >
      <Input.TextArea
        data-testid="admin-reject-reason"
        rows={3}
        maxLength={500}
        placeholder={tr("拒绝原因(必填)", "Reason (required)")}
        value={reason}
        onChange={(e) => setReason(e.target.value)}
      />
    </Modal>
  );
}

export default function AdminUsersPage() {
  const { tr } = useT();
  const { message } = App.useApp();
  const [filter, setFilter] = useState<Filter>("pending_review");
  const [users, setUsers] = useState<User[]>([]);
  const [loading, setLoading] = useState(false);
  const [rejecting, setRejecting] = useState<User | null>(null);

  const load = useCallback(async () => {
    setLoading(true);
    try {
      const q = filter === "all" ? "" : `?status=${filter}`;
      setUsers(await api<User[]>("GET", `/api/admin/users${q}`));
    } catch (e) {
      message.error(errorText(e));
    } finally {
      setLoading(false);
    }
  }, [filter, message]);

  useEffect(() => {
    void load();
  }, [load]);

  const approve = async (u: User) => {
    try {
      await api("POST", `/api/admin/users/${u.id}/review`, { decision: "approve" });
      message.success(tr("已通过", "Approved"));
      void load();
    } catch (e) {
      message.error(errorText(e));
    }
  };

  const columns: ColumnsType<User> = [
    { title: tr("邮箱", "Email"), dataIndex: "email" },
    { title: tr("用户名", "Username"), dataIndex: "username" },
    { title: tr("姓名", "Name"), render: (_, u) => u.profile?.real_name ?? "" },
    { title: tr("组织", "Organization"), render: (_, u) => u.profile?.organization ?? "" },
    { title: tr("目的", "Purpose"), render: (_, u) => u.profile?.purpose ?? "" },
    { title: tr("状态", "Status"), render: (_, u) => <StatusTag status={u.status} /> },
    {
      title: tr("操作", "Actions"),
      render: (_, u) =>
        u.role === "admin" ? null : (
          <Space>
            <Button size="small" type="primary" data-testid="admin-approve" disabled={u.status === "approved"} onClick={() => void approve(u)}>
              {tr("通过", "Approve")}
            </Button>
            <Button size="small" danger data-testid="admin-reject" disabled={u.status === "rejected"} onClick={() => setRejecting(u)}>
              {tr("拒绝", "Reject")}
            </Button>
          </Space>
        ),
    },
  ];

  return (
    <Card
      title={tr("用户审核", "User review")}
      extra={
        <Select<Filter>
          data-testid="admin-user-filter"
          value={filter}
          onChange={setFilter}
          style={{ width: 180 }}
          options={[
            { value: "pending_review", label: tr("待审核", "Pending review") },
            { value: "approved", label: tr("已通过", "Approved") },
            { value: "rejected", label: tr("已拒绝", "Rejected") },
            { value: "registered", label: tr("未完善信息", "Registered") },
            { value: "all", label: tr("全部", "All") },
          ]}
        />
      }
    >
      <Table<User>
        rowKey="id"
        loading={loading}
        columns={columns}
        dataSource={users}
        pagination={{ pageSize: 50 }}
        onRow={(u) => rowProps({ "data-testid": "admin-user-row", "data-status": u.status })}
      />
      <RejectDialog
        user={rejecting}
        onClose={() => setRejecting(null)}
        onDone={() => {
          setRejecting(null);
          void load();
        }}
      />
    </Card>
  );
}
